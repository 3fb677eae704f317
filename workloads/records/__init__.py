"""Run records: the SQLite store, the recorder around a run, and views derived from records."""
