#!/usr/bin/env bash
# Produce large real query logs for benchmarks/log_digest.py, from private server instances
# (never the shared ones): PostgreSQL 15 + pgbench in every log shape (simple protocol as
# stderr, csvlog and jsonlog; extended protocol; log_statement=all + log_duration), and
# MariaDB + sysbench oltp_read_write with long_query_time=0.
# Usage: bash benchmarks/make_logs.sh WORKDIR SECONDS [pg|mysql|all]
#        (needs root; apt-get install postgresql-15 mariadb-server sysbench)
set -euo pipefail
WORK="${1:-/tmp/backendperf-logbench}"
SECONDS_RUN="${2:-60}"
WHICH="${3:-all}"
PGBIN="/usr/lib/postgresql/15/bin"
mkdir -p "$WORK"
chmod 777 "$WORK"

pg() {
  # One server, three runs; the logging collector writes every run as stderr, csvlog and
  # jsonlog at once, so the same workload is read in each format.
  local data="$WORK/pgdata" port=55432 logs="$WORK/pglog" third=$((SECONDS_RUN / 3))
  rm -rf "$data" "$logs"
  mkdir -p "$logs" && chown postgres "$logs"
  runuser -u postgres -- "$PGBIN/initdb" -D "$data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -l "$WORK/pg-server.log" -w start \
    -o "-p $port -k $WORK -c listen_addresses=127.0.0.1 -c log_min_duration_statement=0 \
        -c log_line_prefix='%m [%p] %q%u@%d ' -c log_connections=on -c log_disconnections=on \
        -c logging_collector=on -c log_destination=stderr,csvlog,jsonlog -c log_directory=$logs \
        -c log_filename=pg.log -c log_rotation_size=0 -c log_rotation_age=0 \
        -c fsync=off -c synchronous_commit=off" >/dev/null
  trap 'runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -m fast stop >/dev/null' RETURN
  local psql=(psql -q -h 127.0.0.1 -p $port -U postgres)
  createdb -h 127.0.0.1 -p $port -U postgres bench
  pgbench -h 127.0.0.1 -p $port -U postgres -i -s 10 -q bench >/dev/null 2>&1
  local bench=(pgbench -h 127.0.0.1 -p $port -U postgres -c 4 -j 2 -T "$third" bench)
  keep() {  # the run's logs under their shape's name, and an empty log for the next run
    sleep 1
    cp "$logs/pg.log" "$WORK/$1.log"
    [ -z "${2:-}" ] || { cp "$logs/pg.csv" "$WORK/$1.csv"; cp "$logs/pg.json" "$WORK/$1.json"; }
    : > "$logs/pg.log"; : > "$logs/pg.csv"; : > "$logs/pg.json"
  }
  keep setup
  # 1. simple protocol, log_min_duration_statement=0: stderr, csvlog and jsonlog
  "${bench[@]}" >/dev/null 2>&1
  keep postgresql all
  # 2. extended protocol (prepared statements: execute lines with DETAIL: parameters)
  "${bench[@]}" -M prepared >/dev/null 2>&1
  keep pg-extended
  # 3. log_statement=all + log_duration: the statement and its duration on separate lines
  "${psql[@]}" -c "ALTER SYSTEM SET log_min_duration_statement = -1" \
    -c "ALTER SYSTEM SET log_statement = 'all'" -c "ALTER SYSTEM SET log_duration = on" \
    -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  : > "$logs/pg.log"
  "${bench[@]}" >/dev/null 2>&1
  keep pg-statement-all
  rm -f "$WORK/setup.log"
}

mysql() {
  local data="$WORK/mdbdata" sock="$WORK/mdb.sock" port=33306
  rm -rf "$data"
  mariadb-install-db --no-defaults --user=root --datadir="$data" \
    --auth-root-authentication-method=normal >/dev/null 2>&1
  mariadbd --no-defaults --user=root --datadir="$data" --socket="$sock" --port=$port --bind-address=127.0.0.1 \
    --skip-grant-tables --slow-query-log=1 --long-query-time=0 --slow-query-log-file="$WORK/slow.log" \
    --innodb-flush-log-at-trx-commit=0 --pid-file="$WORK/mdb.pid" >/dev/null 2>&1 &
  for _ in $(seq 1 60); do mariadb-admin --socket="$sock" ping >/dev/null 2>&1 && break; sleep 0.5; done
  mariadb --socket="$sock" -e "CREATE DATABASE sbtest"
  local sb=(--db-driver=mysql --mysql-socket="$sock" --mysql-user=root --mysql-db=sbtest --tables=4 --table-size=20000)
  sysbench oltp_read_write "${sb[@]}" prepare >/dev/null
  : > "$WORK/slow.log"
  sysbench oltp_read_write "${sb[@]}" --threads=4 --time="$SECONDS_RUN" run >/dev/null
  kill "$(cat "$WORK/mdb.pid")"
  cp "$WORK/slow.log" "$WORK/mysql-slow.log"
}

if [ "$WHICH" != mysql ]; then pg; fi
if [ "$WHICH" != pg ]; then mysql; fi
ls -la "$WORK"/*.log
