#!/usr/bin/env bash
#
# test/demo.sh: the body of `make demo`.  On a fresh Debian 12 machine it
# installs what is missing, builds and installs mongo_etl, starts a
# throwaway PostgreSQL and FerretDB on 127.0.0.1, loads a generated shop
# (users with nested addresses and tags, orders with item arrays) into
# MongoDB, migrates it into PostgreSQL with INSERT ... SELECT through
# foreign tables, shows what happened, and stops the servers.
#
set -euo pipefail
cd "$(dirname "$0")/.."

users=${DEMO_USERS:-5000}

step() { printf '\n==> %s\n' "$*"; }

step "starting PostgreSQL 15 and ${MONGO_ETL_SERVER:-ferretdb} on 127.0.0.1 (installing what is missing)"
exports=$(bash test/servers.sh start)
eval "$exports"
trap 'step "stopping the servers"; bash test/servers.sh stop' EXIT

step "building and installing mongo_etl"
make --quiet
make --quiet install

step "loading $users users and their orders into MongoDB ($(sed -E 's#//[^/@]*@#//#' <<<"$MONGO_URI"), database shop)"
/usr/bin/python3 test/fixtures.py demo "$MONGO_URI" shop "$users"

step "migrating them into PostgreSQL"
psql -X -v ON_ERROR_STOP=1 -v mongo_uri="$MONGO_URI" -f test/demo.sql
