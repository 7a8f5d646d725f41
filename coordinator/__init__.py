"""DWC coordinator: the /api/v3 cluster API, fleet state, event ingest from agents, and
dispatch of heavy work to Ray. May import the wire protocol from ``agent``; never the
other way round."""

__all__: list[str] = []
