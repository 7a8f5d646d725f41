"""Dispatch of remote jobs to Ray: the job handlers and the dispatcher."""
