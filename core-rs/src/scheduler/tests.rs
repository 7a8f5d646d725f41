//! Behaviour tests, property tests on the invariants, and a many-threads stress test.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

const T0: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z in microseconds

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn setup(config: Config) -> (Scheduler, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Time::from_micros(T0)));
    let s = Scheduler::with_clock(
        Config {
            seed: Some(7),
            ..config
        },
        clock.clone(),
    )
    .unwrap();
    (s, clock)
}

fn sched() -> (Scheduler, Arc<ManualClock>) {
    setup(Config::default())
}

fn spec(id: &str) -> TaskSpec {
    TaskSpec {
        backoff: Backoff {
            jitter: 0.0,
            ..Backoff::default()
        },
        ..TaskSpec::new(id, id.as_bytes().to_vec())
    }
}

fn ids(d: &[Delivery]) -> Vec<&str> {
    d.iter().map(|x| x.id.as_ref()).collect()
}

const LEASE: Duration = Duration::from_secs(30);

#[test]
fn priority_then_run_at_then_fifo() {
    let (s, clock) = sched();
    let now = s.now();
    s.enqueue(TaskSpec {
        priority: Priority::Low,
        ..spec("low")
    })
    .unwrap();
    s.enqueue(spec("n1")).unwrap();
    s.enqueue(TaskSpec {
        start: Start::At(now.saturating_sub(secs(5.0))),
        ..spec("n-early")
    })
    .unwrap();
    s.enqueue(spec("n2")).unwrap();
    s.enqueue(TaskSpec {
        priority: Priority::Critical,
        ..spec("crit")
    })
    .unwrap();
    s.enqueue(TaskSpec {
        priority: Priority::High,
        ..spec("high")
    })
    .unwrap();
    s.enqueue(TaskSpec {
        priority: Priority::Critical,
        start: Start::After(secs(1.0)),
        ..spec("crit-later")
    })
    .unwrap();
    let got = s.take(10, LEASE).unwrap();
    assert_eq!(ids(&got), ["crit", "high", "n-early", "n1", "n2", "low"]);
    clock.advance(secs(1.0));
    assert_eq!(ids(&s.take(10, LEASE).unwrap()), ["crit-later"]);
    s.with_core(|c| c.check_invariants());
}

#[test]
fn lease_expiry_makes_task_available_again() {
    let (s, clock) = sched();
    s.enqueue(spec("a")).unwrap();
    let first = s.take(1, secs(10.0)).unwrap();
    assert!(s.take(1, LEASE).unwrap().is_empty());
    clock.advance(secs(10.0));
    let again = s.take(1, LEASE).unwrap();
    assert_eq!(ids(&again), ["a"]);
    assert_eq!(again[0].attempt, 2);
    let e = s.ack(first[0].lease).unwrap_err();
    assert!(
        matches!(e, SchedulerError::LeaseExpired { ref task, .. } if task == "a"),
        "{e}"
    );
    assert_eq!(s.ack(999).unwrap_err(), SchedulerError::UnknownLease(999));
    s.ack(again[0].lease).unwrap();
    assert!(s.is_empty());
    assert_eq!(s.stats().counters.expired, 1);
    assert_eq!(
        s.ack(again[0].lease).unwrap_err(),
        SchedulerError::UnknownLease(again[0].lease)
    );
}

#[test]
fn ack_at_the_expiry_instant_is_expired() {
    let (s, clock) = sched();
    s.enqueue(spec("a")).unwrap();
    let d = s.take(1, secs(5.0)).unwrap();
    clock.advance(secs(5.0));
    assert!(matches!(
        s.ack(d[0].lease),
        Err(SchedulerError::LeaseExpired { .. })
    ));
    assert_eq!(s.status("a"), Some(TaskStatus::Pending));
}

#[test]
fn nack_retries_with_backoff_then_dead_letters() {
    let (s, clock) = sched();
    s.enqueue(TaskSpec {
        max_attempts: 3,
        ..spec("a")
    })
    .unwrap();
    let d = s.take(1, LEASE).unwrap();
    let out = s
        .nack(d[0].lease, "boom 1", NackOptions::default())
        .unwrap();
    assert_eq!(
        out,
        NackOutcome::Retry {
            at: s.now().saturating_add(secs(1.0))
        }
    );
    assert!(
        s.take(1, LEASE).unwrap().is_empty(),
        "backoff not respected"
    );
    clock.advance(secs(1.0));
    let d = s.take(1, LEASE).unwrap();
    assert_eq!(
        (d[0].attempt, d[0].last_error.as_deref()),
        (2, Some("boom 1"))
    );
    s.nack(d[0].lease, "boom 2", NackOptions::default())
        .unwrap();
    clock.advance(secs(1.9));
    assert!(
        s.take(1, LEASE).unwrap().is_empty(),
        "second retry waits 2 s"
    );
    clock.advance(secs(0.1));
    let d = s.take(1, LEASE).unwrap();
    assert_eq!(
        s.nack(d[0].lease, "boom 3", NackOptions::default())
            .unwrap(),
        NackOutcome::DeadLettered
    );
    assert_eq!(s.status("a"), Some(TaskStatus::DeadLettered));
    let dead = s.dead_letters(10);
    assert_eq!(
        (
            dead[0].id.as_ref(),
            dead[0].attempts,
            dead[0].last_error.as_deref()
        ),
        ("a", 3, Some("boom 3"))
    );
    let st = s.stats();
    assert_eq!(
        (
            st.dead_letters,
            st.counters.retried,
            st.counters.dead_lettered
        ),
        (1, 2, 1)
    );
    // A dead-lettered id is still held; requeue gives it a fresh budget.
    assert_eq!(
        s.enqueue(spec("a")).unwrap_err(),
        SchedulerError::DuplicateId("a".into())
    );
    s.requeue_dead_letter("a").unwrap();
    assert_eq!(s.take(1, LEASE).unwrap()[0].attempt, 1);
    assert_eq!(
        s.requeue_dead_letter("a").unwrap_err(),
        SchedulerError::NotDeadLettered("a".into())
    );
    s.with_core(|c| c.check_invariants());
}

#[test]
fn nack_options_override_backoff() {
    let (s, clock) = sched();
    s.enqueue(spec("a")).unwrap();
    s.enqueue(spec("b")).unwrap();
    let d = s.take(2, LEASE).unwrap();
    let out = s
        .nack(
            d[0].lease,
            "later",
            NackOptions {
                retry_after: Some(secs(60.0)),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        out,
        NackOutcome::Retry {
            at: s.now().saturating_add(secs(60.0))
        }
    );
    let out = s
        .nack(
            d[1].lease,
            "bad input",
            NackOptions {
                dead_letter: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out, NackOutcome::DeadLettered);
    clock.advance(secs(59.0));
    assert!(s.take(1, LEASE).unwrap().is_empty());
    clock.advance(secs(1.0));
    assert_eq!(ids(&s.take(1, LEASE).unwrap()), ["a"]);
}

#[test]
fn jitter_shortens_delays_within_bounds() {
    let (s, _clock) = sched();
    let backoff = Backoff {
        base: secs(10.0),
        factor: 1.0,
        cap: secs(10.0),
        jitter: 0.5,
    };
    let mut delays = BTreeSet::new();
    for i in 0..50 {
        s.enqueue(TaskSpec {
            backoff,
            ..spec(&format!("t{i}"))
        })
        .unwrap();
        let d = s.take(1, LEASE).unwrap();
        let NackOutcome::Retry { at } = s.nack(d[0].lease, "", NackOptions::default()).unwrap()
        else {
            panic!()
        };
        let delay = at.since(s.now());
        assert!(delay >= secs(5.0) && delay <= secs(10.0), "{delay:?}");
        delays.insert(delay);
    }
    assert!(delays.len() > 10, "jitter should spread delays: {delays:?}");
}

#[test]
fn deadline_passed_is_flagged_and_counted_once() {
    let (s, clock) = sched();
    let now = s.now();
    s.enqueue(TaskSpec {
        deadline: Some(now.saturating_add(secs(5.0))),
        ..spec("a")
    })
    .unwrap();
    s.enqueue(TaskSpec {
        deadline: Some(now.saturating_add(secs(60.0))),
        ..spec("b")
    })
    .unwrap();
    clock.advance(secs(6.0));
    assert_eq!(s.stats().overdue, 1);
    let d = s.take(2, secs(1.0)).unwrap();
    assert_eq!((d[0].id.as_ref(), d[0].late, d[1].late), ("a", true, false));
    clock.advance(secs(1.0)); // both leases expire; "a" is delivered late again
    let d = s.take(2, LEASE).unwrap();
    assert!(d.iter().any(|x| &*x.id == "a" && x.late));
    assert_eq!(s.stats().counters.late, 1);
}

#[test]
fn dedup_refuse_and_merge() {
    let (s, _clock) = sched();
    s.enqueue(TaskSpec {
        dedup_key: Some("k".into()),
        ..spec("a")
    })
    .unwrap();
    let e = s
        .enqueue(TaskSpec {
            dedup_key: Some("k".into()),
            ..spec("b")
        })
        .unwrap_err();
    assert_eq!(
        e,
        SchedulerError::DuplicateKey {
            key: "k".into(),
            holder: "a".into()
        }
    );
    let merged = s
        .enqueue(TaskSpec {
            dedup_key: Some("k".into()),
            on_duplicate: DedupPolicy::Merge,
            priority: Priority::High,
            payload: b"newer".to_vec().into(),
            ..spec("b")
        })
        .unwrap();
    assert_eq!(merged, Enqueued::Merged("a".into()));
    let d = s.take(5, LEASE).unwrap();
    assert_eq!(
        (
            d.len(),
            d[0].id.as_ref(),
            d[0].payload.as_ref(),
            d[0].priority
        ),
        (1, "a", &b"newer"[..], Priority::High)
    );
    // Merging into a leased task: it finishes, then runs once more with the merged payload.
    let m = TaskSpec {
        dedup_key: Some("k".into()),
        on_duplicate: DedupPolicy::Merge,
        payload: b"third".to_vec().into(),
        ..spec("c")
    };
    assert_eq!(s.enqueue(m).unwrap(), Enqueued::Merged("a".into()));
    assert!(s.take(5, LEASE).unwrap().is_empty());
    s.ack(d[0].lease).unwrap();
    let d = s.take(5, LEASE).unwrap();
    assert_eq!(
        (d[0].id.as_ref(), d[0].payload.as_ref(), d[0].attempt),
        ("a", &b"third"[..], 1)
    );
    s.ack(d[0].lease).unwrap();
    assert!(s.is_empty());
    // The key is free again.
    s.enqueue(TaskSpec {
        dedup_key: Some("k".into()),
        ..spec("d")
    })
    .unwrap();
    let st = s.stats().counters;
    assert_eq!((st.merged, st.acked, st.enqueued), (2, 2, 2));
    s.with_core(|c| c.check_invariants());
}

#[test]
fn class_caps_limit_concurrent_leases() {
    let (s, _clock) = setup(Config {
        class_limits: [("gpu".to_string(), 1)].into(),
        ..Config::default()
    });
    for i in 0..3 {
        s.enqueue(TaskSpec {
            class: "gpu".into(),
            priority: Priority::Critical,
            ..spec(&format!("g{i}"))
        })
        .unwrap();
    }
    s.enqueue(TaskSpec {
        priority: Priority::Low,
        ..spec("cpu")
    })
    .unwrap();
    let d = s.take(10, LEASE).unwrap();
    assert_eq!(ids(&d), ["g0", "cpu"]);
    s.ack(d[0].lease).unwrap();
    assert_eq!(ids(&s.take(10, LEASE).unwrap()), ["g1"]);
    s.set_class_limit("gpu", Some(0)).unwrap();
    assert!(
        s.take(10, LEASE).unwrap().is_empty(),
        "limit 0 pauses the class"
    );
    s.set_class_limit("gpu", None).unwrap();
    assert_eq!(ids(&s.take(10, LEASE).unwrap()), ["g2"]);
    assert_eq!(s.class_limits(), BTreeMap::new());
    assert_eq!(s.stats().leased_by_class.get("gpu"), Some(&2));
}

#[test]
fn cancel_and_extend() {
    let (s, clock) = sched();
    s.enqueue(spec("a")).unwrap();
    s.enqueue(spec("b")).unwrap();
    let d = s.take(1, secs(10.0)).unwrap();
    assert!(s.cancel("a"));
    assert!(!s.cancel("a"));
    assert_eq!(
        s.ack(d[0].lease).unwrap_err(),
        SchedulerError::UnknownLease(d[0].lease)
    );
    let d = s.take(1, secs(10.0)).unwrap();
    clock.advance(secs(8.0));
    let new = s.extend(d[0].lease, secs(10.0)).unwrap();
    assert_eq!(new, s.now().saturating_add(secs(10.0)));
    clock.advance(secs(9.0));
    s.ack(d[0].lease).unwrap();
    assert!(s.is_empty());
    assert!(s.extend(d[0].lease, secs(1.0)).is_err());
}

#[test]
fn enqueue_many_is_all_or_nothing() {
    let (s, _clock) = sched();
    s.enqueue(spec("x")).unwrap();
    let batch = vec![spec("a"), spec("b"), spec("x"), spec("c")];
    let e = s.enqueue_many(batch, true).unwrap_err();
    assert_eq!(
        e,
        SchedulerError::InBatch {
            index: 2,
            source: Box::new(SchedulerError::DuplicateId("x".into()))
        }
    );
    assert_eq!(s.len(), 1);
    let e = s
        .enqueue_many(vec![spec("a"), spec("a")], true)
        .unwrap_err();
    assert!(matches!(e.root(), SchedulerError::DuplicateId(_)));
    let big = TaskSpec {
        payload: vec![0; DEFAULT_MAX_PAYLOAD + 1].into(),
        ..spec("big")
    };
    let e = s.enqueue_many(vec![spec("a"), big], true).unwrap_err();
    assert!(
        matches!(e.root(), SchedulerError::PayloadTooLarge { .. }),
        "{e}"
    );
    // Merges within one batch fold into the first.
    let k = |id: &str| TaskSpec {
        dedup_key: Some("k".into()),
        on_duplicate: DedupPolicy::Merge,
        ..spec(id)
    };
    let out = s.enqueue_many(vec![k("m1"), k("m2")], true).unwrap();
    assert_eq!(
        out,
        [Enqueued::Added("m1".into()), Enqueued::Merged("m1".into())]
    );
    assert_eq!(s.len(), 2);
}

#[test]
fn interval_schedule_fires_tasks() {
    let (s, clock) = sched();
    let mut sp = ScheduleSpec::new("tick", Trigger::Interval { every: secs(10.0) });
    sp.template.payload = b"p".to_vec().into();
    sp.template.deadline_after = Some(secs(2.0));
    let first = s.add_schedule(sp.clone(), false).unwrap();
    assert_eq!(first, s.now().saturating_add(secs(10.0)));
    assert_eq!(
        s.add_schedule(sp.clone(), false).unwrap_err(),
        SchedulerError::DuplicateSchedule("tick".into())
    );
    assert!(s.take(1, LEASE).unwrap().is_empty());
    clock.advance(secs(10.0));
    let d = s.take(5, LEASE).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].schedule.as_deref(), d[0].run_at, d[0].payload.as_ref()),
        (Some("tick"), first, &b"p"[..])
    );
    assert_eq!(*d[0].id, format!("tick@{}", first.as_micros()));
    assert_eq!(d[0].deadline, Some(first.saturating_add(secs(2.0))));
    s.ack(d[0].lease).unwrap();
    assert_eq!(
        s.preview("tick", 3, None).unwrap(),
        [20.0, 30.0, 40.0].map(|x| first.saturating_add(secs(x - 10.0)))
    );
    // Re-adding the same trigger keeps its place.
    s.add_schedule(sp, true).unwrap();
    assert_eq!(
        s.preview("tick", 1, None).unwrap(),
        [first.saturating_add(secs(10.0))]
    );
    assert!(s.remove_schedule("tick"));
    clock.advance(secs(100.0));
    assert!(s.take(5, LEASE).unwrap().is_empty());
}

fn misfire_run(policy: Misfire) -> Vec<Delivery> {
    let (s, clock) = sched();
    let mut sp = ScheduleSpec::new("m", Trigger::Interval { every: secs(10.0) });
    sp.misfire = policy;
    s.add_schedule(sp, false).unwrap();
    clock.advance(secs(55.5)); // fires at 10..50 are all more than 1 s late
    s.take(100, LEASE).unwrap()
}

#[test]
fn misfire_policies_after_a_stall() {
    assert!(misfire_run(Misfire::Skip).is_empty());
    let once = misfire_run(Misfire::RunOnce);
    assert_eq!(once.len(), 1);
    assert_eq!(
        once[0].run_at,
        Time::from_micros(T0).saturating_add(secs(50.0))
    );
    assert_eq!(misfire_run(Misfire::CatchUp).len(), 5);
}

#[test]
fn cron_schedule_and_preview() {
    let (s, clock) = sched();
    let trig = Trigger::Cron {
        expr: "*/20 * * * * *".into(),
        timezone: "UTC".into(),
    };
    let mut sp = ScheduleSpec::new("c", trig.clone());
    sp.misfire = Misfire::CatchUp;
    let first = s.add_schedule(sp, false).unwrap();
    assert_eq!(first, Time::from_micros(T0).saturating_add(secs(20.0)));
    let pv = Scheduler::preview_trigger(&trig, 3, Time::from_micros(T0)).unwrap();
    assert_eq!(
        pv,
        [20.0, 40.0, 60.0].map(|x| Time::from_micros(T0).saturating_add(secs(x)))
    );
    clock.advance(secs(60.0));
    assert_eq!(s.take(10, LEASE).unwrap().len(), 3);
    let bad = Trigger::Cron {
        expr: "0 0 31 2 *".into(),
        timezone: "UTC".into(),
    };
    assert!(matches!(
        s.add_schedule(ScheduleSpec::new("never", bad), false),
        Err(SchedulerError::InvalidCron { .. })
    ));
    assert!(Scheduler::preview_trigger(&trig, MAX_PREVIEW + 1, Time::EPOCH).is_err());
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let (s, _clock) = sched();
    assert!(s.take(0, LEASE).is_err());
    assert!(s.take(1, Duration::ZERO).is_err());
    assert!(s.take(1, Duration::MAX).is_err());
    assert!(s.take_wait(1, Duration::MAX, Duration::ZERO).is_err());
    assert!(s.set_class_limit("", Some(1)).is_err());
    assert!(s.preview("nope", 1, None).is_err());
    assert!(s.extend(1, Duration::ZERO).is_err());
    let mut sp = ScheduleSpec::new(
        "x",
        Trigger::Interval {
            every: Duration::ZERO,
        },
    );
    assert!(s.add_schedule(sp.clone(), false).is_err());
    sp.trigger = Trigger::Cron {
        expr: "* * * * *".into(),
        timezone: "Nowhere/Special".into(),
    };
    assert_eq!(
        s.add_schedule(sp, false).unwrap_err(),
        SchedulerError::UnknownTimeZone("Nowhere/Special".into())
    );
    assert!(Scheduler::new(Config {
        max_payload: usize::MAX,
        ..Config::default()
    })
    .is_err());
    assert!(s
        .enqueue(TaskSpec {
            start: Start::At(Time::MAX),
            ..spec("far")
        })
        .is_ok());
    let long_reason = "é".repeat(MAX_REASON_LEN);
    s.enqueue(spec("r")).unwrap();
    let d = s.take(5, LEASE).unwrap();
    s.nack(d[0].lease, &long_reason, NackOptions::default())
        .unwrap();
}

fn journal_config() -> Config {
    Config {
        journal: true,
        ..Config::default()
    }
}

#[test]
fn restore_from_snapshot_releases_leases() {
    let (s, clock) = setup(journal_config());
    for i in 0..5 {
        s.enqueue(spec(&format!("t{i}"))).unwrap();
    }
    s.set_class_limit("gpu", Some(2)).unwrap();
    let d = s.take(3, LEASE).unwrap();
    s.ack(d[0].lease).unwrap();
    let snap = s.snapshot().unwrap();
    let r = Scheduler::restore(journal_config(), clock.clone(), Some(&snap), &[]).unwrap();
    r.with_core(|c| c.check_invariants());
    assert_eq!(r.len(), 4);
    assert_eq!(r.stats().leased, 0);
    assert_eq!(r.class_limits(), [("gpu".to_string(), 2)].into());
    let again = r.take(10, LEASE).unwrap();
    assert_eq!(ids(&again), ["t1", "t2", "t3", "t4"]);
    assert_eq!((again[0].attempt, again[2].attempt), (2, 1));
    assert!(
        again.iter().all(|x| x.lease > d[2].lease),
        "lease ids are not reused"
    );
}

#[test]
fn restore_from_journal_matches_live_state() {
    let (s, clock) = setup(journal_config());
    let mut chunks = Vec::new();
    s.enqueue_many((0..6).map(|i| spec(&format!("t{i}"))).collect(), true)
        .unwrap();
    chunks.push(s.drain_journal().unwrap());
    let snap = s.snapshot().unwrap();
    let d = s.take(4, LEASE).unwrap();
    s.ack(d[0].lease).unwrap();
    s.nack(d[1].lease, "x", NackOptions::default()).unwrap();
    s.cancel("t5");
    chunks.push(s.drain_journal().unwrap());
    s.add_schedule(
        ScheduleSpec::new("every", Trigger::Interval { every: secs(5.0) }),
        false,
    )
    .unwrap();
    clock.advance(secs(5.0));
    s.tick();
    chunks.push(s.drain_journal().unwrap());
    assert!(s.drain_journal().unwrap().is_empty());
    let live = s.with_core(|c| (c.dump(), c.counters().clone()));
    let released = |v: Vec<(String, TaskStatus, u32, Vec<u8>)>| {
        v.into_iter()
            .map(|(id, st, a, p)| {
                (
                    id,
                    if st == TaskStatus::Leased {
                        TaskStatus::Pending
                    } else {
                        st
                    },
                    a,
                    p,
                )
            })
            .collect::<Vec<_>>()
    };
    let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
    // Journal alone, snapshot + the rest, and chunks out of order all agree.
    for (snapshot, journal) in [
        (None, refs.clone()),
        (Some(snap.as_slice()), refs.clone()),
        (Some(snap.as_slice()), vec![refs[2], refs[1]]),
        (None, vec![refs[2], refs[0], refs[1], refs[0]]),
    ] {
        let r = Scheduler::restore(journal_config(), clock.clone(), snapshot, &journal).unwrap();
        r.with_core(|c| c.check_invariants());
        assert_eq!(r.with_core(|c| c.dump()), released(live.0.clone()));
        assert_eq!(r.with_core(|c| c.counters().clone()), live.1);
        assert_eq!(r.schedule_names(), ["every"]);
    }
    // A missing chunk is detected.
    let e =
        Scheduler::restore(journal_config(), clock.clone(), None, &[refs[0], refs[2]]).unwrap_err();
    assert!(matches!(e, SchedulerError::JournalGap { .. }), "{e}");
}

#[test]
fn corrupt_input_is_an_error() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Time::from_micros(T0)));
    for bad in [
        &b""[..],
        b"DWCS",
        b"DWCS\x00\x01",
        b"nope",
        b"DWCJ\x01\x00\x00\x00",
    ] {
        assert!(Scheduler::restore(Config::default(), clock.clone(), Some(bad), &[]).is_err());
        assert!(
            Scheduler::restore(Config::default(), clock.clone(), None, &[bad]).is_err()
                || bad.is_empty()
        );
    }
}

#[test]
fn blocking_take_wakes_on_enqueue_and_times_out() {
    let s = Arc::new(Scheduler::new(Config::default()).unwrap());
    assert!(s
        .take_wait(1, LEASE, Duration::from_millis(20))
        .unwrap()
        .is_empty());
    let s2 = s.clone();
    let waiter = thread::spawn(move || s2.take_wait(1, LEASE, Duration::from_secs(30)).unwrap());
    thread::sleep(Duration::from_millis(20));
    s.enqueue(spec("a")).unwrap();
    assert_eq!(ids(&waiter.join().unwrap()), ["a"]);
    // A delayed task wakes a waiter when it becomes due.
    s.enqueue(TaskSpec {
        start: Start::After(Duration::from_millis(30)),
        ..spec("b")
    })
    .unwrap();
    assert_eq!(
        ids(&s.take_wait(1, LEASE, Duration::from_secs(30)).unwrap()),
        ["b"]
    );
}

#[test]
fn a_panic_under_the_lock_does_not_wedge_the_scheduler() {
    let s = Arc::new(Scheduler::new(Config::default()).unwrap());
    let s2 = s.clone();
    let r = thread::spawn(move || s2.with_core(|_| panic!("simulated bug"))).join();
    assert!(r.is_err());
    s.enqueue(spec("a")).unwrap();
    assert_eq!(s.take(1, LEASE).unwrap().len(), 1);
}

#[test]
fn many_threads_no_deadlock_no_loss_no_duplicate() {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 4;
    const PER: usize = 2000;
    let s = Arc::new(
        Scheduler::new(Config {
            class_limits: [("capped".to_string(), 2)].into(),
            ..Config::default()
        })
        .unwrap(),
    );
    let acked = Arc::new(std::sync::Mutex::new(HashMap::<String, usize>::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::new();
    for p in 0..PRODUCERS {
        let s = s.clone();
        handles.push(thread::spawn(move || {
            for chunk in (0..PER).collect::<Vec<_>>().chunks(50) {
                let specs = chunk
                    .iter()
                    .map(|i| TaskSpec {
                        priority: Priority::ALL[i % 4],
                        class: if i % 7 == 0 {
                            "capped".into()
                        } else {
                            DEFAULT_CLASS.into()
                        },
                        backoff: Backoff {
                            base: Duration::from_millis(1),
                            ..Backoff::default()
                        },
                        ..spec(&format!("p{p}-{i}"))
                    })
                    .collect();
                s.enqueue_many(specs, true).unwrap();
            }
        }));
    }
    for c in 0..CONSUMERS {
        let (s, acked, done) = (s.clone(), acked.clone(), done.clone());
        handles.push(thread::spawn(move || {
            let mut n = 0usize;
            while done.load(Ordering::SeqCst) < PRODUCERS * PER {
                let got = s
                    .take_wait(1 + c * 8, LEASE, Duration::from_millis(20))
                    .unwrap();
                for d in got {
                    n += 1;
                    // Fail every 13th delivery once, so retries are in the mix.
                    if n % 13 == 0 && d.attempt == 1 {
                        s.nack(d.lease, "retry me", NackOptions::default()).unwrap();
                    } else {
                        s.ack(d.lease).unwrap();
                        *acked.lock().unwrap().entry(d.id.to_string()).or_default() += 1;
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let _ = s.stats();
            }
        }));
    }
    thread::spawn(move || {
        for h in handles {
            h.join().unwrap();
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("threads did not finish: deadlock?");
    let acked = acked.lock().unwrap();
    assert_eq!(acked.len(), PRODUCERS * PER);
    assert!(acked.values().all(|n| *n == 1));
    assert!(s.is_empty());
    s.with_core(|c| c.check_invariants());
}

// ---- property tests ---------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Enqueue {
        prio: usize,
        delay_ms: u64,
        key: Option<u8>,
        class: u8,
        max_attempts: u32,
    },
    Take {
        n: usize,
        lease_ms: u64,
    },
    Ack(usize),
    Nack(usize, bool),
    Extend(usize),
    Cancel(usize),
    Advance(u64),
    Limit(u8, Option<u32>),
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, prop_oneof![Just(0u64), 0..3000u64], proptest::option::of(0..4u8), 0..3u8, 1..4u32)
            .prop_map(|(prio, delay_ms, key, class, max_attempts)| Op::Enqueue { prio, delay_ms, key, class, max_attempts }),
        3 => (1..5usize, 1..4000u64).prop_map(|(n, lease_ms)| Op::Take { n, lease_ms }),
        2 => any::<usize>().prop_map(Op::Ack),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, d)| Op::Nack(i, d)),
        1 => any::<usize>().prop_map(Op::Extend),
        1 => any::<usize>().prop_map(Op::Cancel),
        2 => (0..3000u64).prop_map(Op::Advance),
        1 => (0..3u8, proptest::option::of(0..3u32)).prop_map(|(c, l)| Op::Limit(c, l)),
        1 => Just(Op::Snapshot),
    ]
}

/// What the model knows about a lease a worker holds.
#[derive(Clone, Debug)]
struct Held {
    lease: u64,
    id: String,
    expires_at: Time,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_operations(ops in proptest::collection::vec(op(), 1..80)) {
        let (s, clock) = setup(journal_config());
        let mut next_id = 0usize;
        let mut enqueued_at: HashMap<String, usize> = HashMap::new();
        let mut live: BTreeSet<String> = BTreeSet::new(); // ids the scheduler must hold
        let mut held: Vec<Held> = Vec::new();
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut snapshot: Option<Vec<u8>> = None;
        for op in ops {
            let now = s.now();
            match op {
                Op::Enqueue { prio, delay_ms, key, class, max_attempts } => {
                    let id = format!("t{next_id:04}");
                    next_id += 1;
                    let sp = TaskSpec {
                        priority: Priority::ALL[prio],
                        start: Start::After(Duration::from_millis(delay_ms)),
                        dedup_key: key.map(|k| format!("k{k}")),
                        class: format!("c{class}").into(),
                        max_attempts,
                        ..spec(&id)
                    };
                    match s.enqueue(sp) {
                        Ok(Enqueued::Added(got)) => {
                            prop_assert_eq!(&*got, id.as_str());
                            enqueued_at.insert(id.clone(), next_id);
                            live.insert(id);
                        }
                        Ok(Enqueued::Merged(_)) => prop_assert!(false, "refuse policy merged"),
                        Err(SchedulerError::DuplicateKey { holder, .. }) => prop_assert!(live.contains(&holder)),
                        Err(e) => prop_assert!(false, "unexpected {e}"),
                    }
                }
                Op::Take { n, lease_ms } => {
                    let got = s.take(n, Duration::from_millis(lease_ms)).unwrap();
                    // Order: sorted by (priority desc, run-at, enqueue order).
                    let key = |d: &Delivery| (Reverse(d.priority), d.run_at, enqueued_at[&*d.id]);
                    prop_assert!(got.windows(2).all(|w| key(&w[0]) <= key(&w[1])), "out of order: {:?}", ids(&got));
                    // Nothing left ready that should have gone before a delivered task,
                    // unless its class is capped.
                    if let Some(last) = got.last() {
                        let limits = s.class_limits();
                        let leased = s.stats().leased_by_class;
                        for (p, run_at, id) in s.with_core(|c| c.ready_keys()) {
                            let k = (Reverse(p), run_at, enqueued_at[&id]);
                            let capped = limits.iter().any(|(c, l)| leased.get(c).copied().unwrap_or(0) >= *l as usize && id_class(&s, &id) == *c);
                            prop_assert!(capped || k >= key(last), "{} skipped", id);
                        }
                    }
                    for d in got {
                        prop_assert!(live.contains(&*d.id), "delivered unknown task {}", d.id);
                        // No task is leased twice at once.
                        let twice = held.iter().any(|h| *h.id == *d.id && h.expires_at > now);
                        prop_assert!(!twice, "{} delivered while leased", d.id);
                        held.retain(|h| *h.id != *d.id);
                        held.push(Held { lease: d.lease, id: d.id.to_string(), expires_at: d.expires_at });
                    }
                }
                Op::Ack(i) if !held.is_empty() => {
                    let h = held.remove(i % held.len());
                    let r = s.ack(h.lease);
                    if h.expires_at > now && live.contains(&h.id) {
                        prop_assert!(r.is_ok(), "{:?}", r);
                        live.remove(&h.id);
                    } else {
                        prop_assert!(r.is_err());
                    }
                }
                Op::Nack(i, dead) if !held.is_empty() => {
                    let h = held.remove(i % held.len());
                    let r = s.nack(h.lease, "x", NackOptions { dead_letter: dead, ..Default::default() });
                    prop_assert_eq!(r.is_ok(), h.expires_at > now && live.contains(&h.id));
                }
                Op::Extend(i) if !held.is_empty() => {
                    let ix = i % held.len();
                    match s.extend(held[ix].lease, Duration::from_secs(1)) {
                        Ok(t) => held[ix].expires_at = t,
                        Err(_) => prop_assert!(held[ix].expires_at <= now || !live.contains(&held[ix].id)),
                    }
                }
                Op::Cancel(i) => {
                    let id = format!("t{:04}", i % next_id.max(1));
                    prop_assert_eq!(s.cancel(&id), live.remove(&id));
                }
                Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
                Op::Limit(c, l) => s.set_class_limit(&format!("c{c}"), l).unwrap(),
                Op::Snapshot => {
                    chunks.clear();
                    snapshot = Some(s.snapshot().unwrap());
                }
                _ => {}
            }
            chunks.push(s.drain_journal().unwrap());
            s.with_core(|c| c.check_invariants());
            // None lost, none invented.
            let held_ids: BTreeSet<String> = s.with_core(|c| c.dump()).into_iter().map(|x| x.0).collect();
            prop_assert_eq!(&held_ids, &live);
        }
        // Restoring gives back every task, none leased.
        let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
        let r = Scheduler::restore(journal_config(), clock.clone(), snapshot.as_deref(), &refs).unwrap();
        r.with_core(|c| c.check_invariants());
        let restored: BTreeSet<String> = r.with_core(|c| c.dump()).into_iter().map(|x| x.0).collect();
        prop_assert_eq!(&restored, &live);
        prop_assert_eq!(r.stats().leased, 0);
        prop_assert_eq!(r.with_core(|c| c.counters().clone()), s.with_core(|c| c.counters().clone()));
    }

    #[test]
    fn restore_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..200), magic in 0..3u8) {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Time::from_micros(T0)));
        let mut b = match magic { 0 => b"DWCS".to_vec(), 1 => b"DWCJ".to_vec(), _ => Vec::new() };
        b.extend(bytes);
        let _ = Scheduler::restore(Config::default(), clock.clone(), Some(&b), &[]);
        let _ = Scheduler::restore(Config::default(), clock, None, &[&b]);
    }

    #[test]
    fn cron_parser_never_panics(expr in "[0-9*/,LW#?A-Za-z@ -]{0,40}", tz in prop_oneof![Just("UTC"), Just("Europe/Berlin"), Just("America/New_York")]) {
        let trig = Trigger::Cron { expr, timezone: tz.into() };
        if let Ok(v) = Scheduler::preview_trigger(&trig, 3, Time::from_micros(T0)) {
            prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn backoff_is_bounded(base in 0u64..10_000, factor in 1.0f64..10.0, cap in 0u64..100_000, jitter in 0.0f64..=1.0, retry in any::<u32>(), unit in 0.0f64..1.0) {
        let b = Backoff { base: Duration::from_millis(base), factor, cap: Duration::from_millis(cap), jitter };
        let d = b.delay(retry, unit);
        prop_assert!(d <= Duration::from_millis(cap));
    }
}

fn id_class(s: &Scheduler, id: &str) -> String {
    s.with_core(|c| c.class_of(id)).unwrap_or_default()
}
