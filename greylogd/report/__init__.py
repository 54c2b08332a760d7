"""Weekly report rendering: tables, charts, PDF, HTML, CSV/Parquet, mail."""
