"""The data viewer's reads: a version's rows (paged, sorted, filtered, searched) and read-only SQL
over the versions a user may read. DuckDB and pyarrow load only in `engine`, on first use."""
