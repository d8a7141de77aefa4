#!/usr/bin/env bash
# Produce large real query logs for benchmarks/log_digest.py, from private server instances
# (never the shared ones): PostgreSQL 15 + pgbench with log_min_duration_statement=0, and
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
  local data="$WORK/pgdata" port=55432
  rm -rf "$data"
  runuser -u postgres -- "$PGBIN/initdb" -D "$data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -l "$WORK/pg-server.log" -w start \
    -o "-p $port -k $WORK -c listen_addresses=127.0.0.1 -c log_min_duration_statement=0 \
        -c log_line_prefix='%m [%p] %q%u@%d ' -c log_connections=on -c log_disconnections=on \
        -c fsync=off -c synchronous_commit=off" >/dev/null
  trap 'runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -m fast stop >/dev/null' RETURN
  createdb -h 127.0.0.1 -p $port -U postgres bench
  pgbench -h 127.0.0.1 -p $port -U postgres -i -s 10 -q bench >/dev/null 2>&1
  : > "$WORK/pg-server.log"   # keep only the workload
  pgbench -h 127.0.0.1 -p $port -U postgres -c 4 -j 2 -T "$((SECONDS_RUN / 2))" bench >/dev/null 2>&1
  pgbench -h 127.0.0.1 -p $port -U postgres -c 4 -j 2 -M prepared -S -T "$((SECONDS_RUN / 2))" bench >/dev/null 2>&1
  cp "$WORK/pg-server.log" "$WORK/postgresql.log"
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
