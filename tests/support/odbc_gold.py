"""Reads the gold published in PostgreSQL through a real ODBC client, as a BI tool does.

unixODBC's driver manager + the PostgreSQL ODBC driver (Debian packages unixodbc,
odbc-postgresql, python3-pyodbc; installed by scripts/install-services), through pyodbc: the
catalog functions SQLTables and SQLColumns (what failed for the DuckDB driver in
duckdb/duckdb#6528), every row of every view, and write attempts that the read-only role must
be refused. Prints one JSON document on stdout (tests/support/odbc.ts runs it).

Usage: python3 odbc_gold.py <connection string> <schema> [<store schema>]
"""
import datetime
import decimal
import json
import sys

import pyodbc


def plain(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def main():
    conn_str, schema = sys.argv[1], sys.argv[2]
    store = sys.argv[3] if len(sys.argv) > 3 else None
    conn = pyodbc.connect(conn_str, autocommit=True)
    cur = conn.cursor()
    out = {"driver": conn.getinfo(pyodbc.SQL_DRIVER_NAME), "dbms": conn.getinfo(pyodbc.SQL_DBMS_VER), "tables": [], "columns": {}, "rows": {}, "writes": {}}
    for t in cur.tables(schema=schema).fetchall():
        out["tables"].append({"name": t.table_name, "type": t.table_type})
    for t in out["tables"]:
        cols = cur.columns(schema=schema, table=t["name"]).fetchall()
        out["columns"][t["name"]] = [
            {"name": c.column_name, "type": c.type_name, "size": c.column_size, "digits": c.decimal_digits, "nullable": c.nullable, "remarks": c.remarks}
            for c in sorted(cols, key=lambda c: c.ordinal_position)
        ]
        # psqlODBC leaves SQLColumns' REMARKS empty; the comments are in the catalog, readable by any role.
        cur.execute(
            "SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a"
            " WHERE a.attrelid = (quote_ident(?) || '.' || quote_ident(?))::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            schema, t["name"],
        )
        out.setdefault("comments", {})[t["name"]] = {row[0]: row[1] for row in cur.fetchall()}
        cur.execute('SELECT * FROM "%s"."%s"' % (schema, t["name"].replace('"', '""')))
        names = [d[0] for d in cur.description]
        out["rows"][t["name"]] = [dict(zip(names, (plain(v) for v in row))) for row in cur.fetchall()]

    def attempt(label, sql):
        try:
            cur.execute(sql)
            out["writes"][label] = "allowed"
        except pyodbc.Error as err:
            out["writes"][label] = str(err)

    first_view = next((t["name"] for t in out["tables"] if t["type"] == "VIEW"), None)
    attempt("create_table", 'CREATE TABLE "%s".odbc_probe (x int)' % schema)
    attempt("create_temp_table", "CREATE TEMP TABLE odbc_probe (x int)")
    attempt("create_schema", "CREATE SCHEMA odbc_probe")
    if first_view:
        attempt("delete_view", 'DELETE FROM "%s"."%s"' % (schema, first_view))
    if store:
        attempt("read_store", 'SELECT count(*) FROM "%s".sport_bonus' % store)
    attempt("read_write_session", "SET default_transaction_read_only = off; CREATE TABLE public.odbc_probe (x int)")
    print(json.dumps(out))


main()
