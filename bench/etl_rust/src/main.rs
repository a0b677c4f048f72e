//! etl_rust: the client-side ETL program that mongo_etl replaces, as its
//! profiling report describes it, built as a baseline of the benchmark
//! (the C one is bench/etl_client.c).  It is written the way such a
//! program is typically written in Rust, neither sabotaged nor tuned:
//!
//! - reads the collection with the `mongodb` crate, a typed cursor
//!   deserializing each document into a serde struct (one per shape);
//! - builds one multi-row INSERT per 100 rows with sea-query
//!   (`Query::insert() ... .values_panic(...)`), rendered with
//!   `build_sqlx(PostgresQueryBuilder)` from sea-query-binder: the natural
//!   sea-query + sqlx path (it is what SeaORM does), giving SQL with $n
//!   placeholders and the values bound with their types, so sqlx prepares
//!   the statement once per connection and reuses it from its cache;
//! - executes it with sqlx on a PgPool;
//! - W worker tasks (2), each reading one disjoint _id range and writing
//!   through its own connection, each in one transaction (as etl_client.c).
//!   The split points are found as etl_client.c finds them: the count from
//!   estimatedDocumentCount, then the _id at position count*i/W in _id
//!   order (sort by _id, skip, limit 1).
//!
//! ```text
//! etl_rust --mongo-uri URI --db DB --collection COLL --pg CONNINFO
//!          --table TABLE --shape flat|user|orders [--workers 2] [--batch 100]
//! ```
//!
//! CONNINFO is a libpq key=value string (host, port, user, password, dbname,
//! sslmode, application_name) or a postgres:// URL; PG* environment
//! variables fill in what it leaves out.  Prints one line,
//!
//! ```text
//! rows=N seconds=S rows_per_s=R client_cpu_s=C backend_cpu_s=B
//! client_cpu_us_per_row=c backend_cpu_us_per_row=b backend_hwm_kb=K
//! ```
//!
//! starting like etl_client's "rows=N seconds=S".  seconds and the CPU
//! figures cover the load (split points, reading, writing, commit), not
//! startup.  Client CPU is this process's (getrusage); backend CPU is read
//! from /proc/<pid>/schedstat of each worker's backend, so only when
//! PostgreSQL runs on this machine ("backend_cpu_s=NA" otherwise); K is the
//! largest VmHWM of those backends, from /proc/<pid>/status (or NA).  Any
//! error goes to stderr with exit status 1.

use std::error::Error;
use std::str::FromStr;
use std::time::Instant;

use bigdecimal::BigDecimal;
use bson::{doc, oid::ObjectId, Bson, DateTime, Decimal128, Document};
use futures_util::TryStreamExt;
use mongodb::{Client, Collection};
use sea_query::{Alias, PostgresQueryBuilder, Query, SimpleExpr};
use sea_query_binder::SqlxBinder;
use serde::{de::DeserializeOwned, Deserialize};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Documents per getMore, as etl_client.c asks for.
const CURSOR_BATCH: u32 = 10_000;

/// One document shape: the serde struct a document is read into, the
/// target table's columns, and the row's values in that order.  Each
/// shape's column list and values sit next to each other in its impl.
trait Row: DeserializeOwned + Send + Sync + Unpin + 'static {
    const COLUMNS: &'static [&'static str];
    fn into_values(self) -> Result<Vec<SimpleExpr>>;
}

/// Decimal128 as an arbitrary-precision decimal: exact for every finite
/// value (NaN and infinities have no BigDecimal and are an error).
fn decimal(d: Option<Decimal128>, id: &ObjectId) -> Result<Option<BigDecimal>> {
    d.map(|d| {
        let text = d.to_string();
        BigDecimal::from_str(&text)
            .map_err(|e| format!("document {id}: balance {text}: {e}").into())
    })
    .transpose()
}

/// An array of strings as a jsonb value; absent stays SQL NULL.
fn json_strings(v: Option<Vec<String>>) -> Option<serde_json::Value> {
    v.map(serde_json::Value::from)
}

/// Subdocuments as relaxed extended JSON, as the driver renders them
/// (dates become {"$date": "<ISO>"}).
fn json_documents(v: Option<Vec<Document>>) -> Option<serde_json::Value> {
    v.map(|docs| Bson::Array(docs.into_iter().map(Bson::Document).collect()).into_relaxed_extjson())
}

/// flat: scalars only.
#[derive(Deserialize)]
struct Flat {
    #[serde(rename = "_id")]
    id: ObjectId,
    seq: i32,
    name: String,
    email: String,
    city: String,
    age: i32,
    visits: i64,
    score: f64,
    active: bool,
    created: DateTime,
}

impl Row for Flat {
    const COLUMNS: &'static [&'static str] = &[
        "_id", "seq", "name", "email", "city", "age", "visits", "score", "active", "created",
    ];

    fn into_values(self) -> Result<Vec<SimpleExpr>> {
        Ok(vec![
            self.id.to_hex().into(),
            self.seq.into(),
            self.name.into(),
            self.email.into(),
            self.city.into(),
            self.age.into(),
            self.visits.into(),
            self.score.into(),
            self.active.into(),
            self.created.to_chrono().into(),
        ])
    }
}

/// user: a ~256-byte user record; of the address only the city is read.
#[derive(Deserialize)]
struct User {
    #[serde(rename = "_id")]
    id: ObjectId,
    seq: i32,
    name: String,
    email: String,
    age: i32,
    created: DateTime,
    score: f64,
    active: bool,
    balance: Option<Decimal128>,
    address: Option<UserAddress>,
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct UserAddress {
    city: Option<String>,
}

impl Row for User {
    const COLUMNS: &'static [&'static str] = &[
        "_id", "seq", "name", "email", "age", "created", "score", "active", "balance", "city",
        "tags",
    ];

    fn into_values(self) -> Result<Vec<SimpleExpr>> {
        let balance = decimal(self.balance, &self.id)?;
        Ok(vec![
            self.id.to_hex().into(),
            self.seq.into(),
            self.name.into(),
            self.email.into(),
            self.age.into(),
            self.created.to_chrono().into(),
            self.score.into(),
            self.active.into(),
            balance.into(),
            self.address.and_then(|a| a.city).into(),
            json_strings(self.tags).into(),
        ])
    }
}

/// orders: the bench's original user document with its orders
/// (bench/bench.py user_documents, COLUMNS).
#[derive(Deserialize)]
struct Orders {
    #[serde(rename = "_id")]
    id: ObjectId,
    seq: i32,
    name: String,
    email: String,
    age: i32,
    created: DateTime,
    score: f64,
    active: bool,
    balance: Option<Decimal128>,
    address: Option<Address>,
    tags: Option<Vec<String>>,
    orders: Option<Vec<Document>>,
}

#[derive(Deserialize)]
struct Address {
    street: Option<String>,
    city: Option<String>,
    zip: Option<String>,
}

impl Row for Orders {
    const COLUMNS: &'static [&'static str] = &[
        "_id", "seq", "name", "email", "age", "created", "score", "active", "balance", "street",
        "city", "zip", "tags", "orders",
    ];

    fn into_values(self) -> Result<Vec<SimpleExpr>> {
        let balance = decimal(self.balance, &self.id)?;
        let (street, city, zip) = match self.address {
            Some(a) => (a.street, a.city, a.zip),
            None => (None, None, None),
        };
        Ok(vec![
            self.id.to_hex().into(),
            self.seq.into(),
            self.name.into(),
            self.email.into(),
            self.age.into(),
            self.created.to_chrono().into(),
            self.score.into(),
            self.active.into(),
            balance.into(),
            street.into(),
            city.into(),
            zip.into(),
            json_strings(self.tags).into(),
            json_documents(self.orders).into(),
        ])
    }
}

struct Options {
    mongo_uri: String,
    db: String,
    collection: String,
    pg: String,
    table: String,
    shape: String,
    workers: u64,
    batch: usize,
}

const USAGE: &str = "usage: etl_rust --mongo-uri URI --db DB --collection COLL --pg CONNINFO \
                     --table TABLE --shape flat|user|orders [--workers 2] [--batch 100]";

fn parse_args() -> Result<Options> {
    let mut o = Options {
        mongo_uri: String::new(),
        db: String::new(),
        collection: String::new(),
        pg: String::new(),
        table: String::new(),
        shape: "orders".into(),
        workers: 2,
        batch: 100,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.len().is_multiple_of(2) {
        return Err(USAGE.into());
    }
    for pair in args.chunks(2) {
        let value = pair[1].clone();
        match pair[0].as_str() {
            // --mongo as etl_client.c spells it
            "--mongo-uri" | "--mongo" => o.mongo_uri = value,
            "--db" => o.db = value,
            "--collection" => o.collection = value,
            "--pg" => o.pg = value,
            "--table" => o.table = value,
            "--shape" => o.shape = value,
            "--workers" => o.workers = value.parse().map_err(|_| USAGE)?,
            "--batch" => o.batch = value.parse().map_err(|_| USAGE)?,
            // etl_client.c's --mode: only its INSERT variant exists here
            "--mode" if value == "insert" => {}
            _ => return Err(USAGE.into()),
        }
    }
    if o.mongo_uri.is_empty()
        || o.db.is_empty()
        || o.collection.is_empty()
        || o.table.is_empty()
        || o.workers < 1
        || o.batch < 1
    {
        return Err(USAGE.into());
    }
    Ok(o)
}

/// A libpq conninfo string ("host=... port=...") or a postgres:// URL as
/// sqlx connect options; PG* environment variables supply the rest.
fn pg_options(conninfo: &str) -> Result<PgConnectOptions> {
    if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        return Ok(PgConnectOptions::from_str(conninfo)?);
    }
    let mut opts = PgConnectOptions::new();
    for item in conninfo.split_whitespace() {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("bad conninfo item \"{item}\""))?;
        let value = value.trim_matches('\'');
        opts = match key {
            "host" | "hostaddr" => opts.host(value),
            "port" => opts.port(value.parse()?),
            "user" => opts.username(value),
            "password" => opts.password(value),
            "dbname" => opts.database(value),
            "sslmode" => opts.ssl_mode(PgSslMode::from_str(value)?),
            "application_name" => opts.application_name(value),
            _ => return Err(format!("unsupported conninfo keyword \"{key}\"").into()),
        };
    }
    Ok(opts)
}

/// Nanoseconds a local PostgreSQL backend has spent on a CPU, or None
/// where pid is not a postgres process here.
fn backend_cpu_ns(pid: i32) -> Option<u64> {
    let stat = backend_proc_file(pid, "schedstat")?;
    stat.split_whitespace().next()?.parse().ok()
}

/// /proc/<pid>/<name> of a local PostgreSQL backend, or None where pid is
/// not a postgres process here.
fn backend_proc_file(pid: i32, name: &str) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if comm.trim() != "postgres" {
        return None;
    }
    std::fs::read_to_string(format!("/proc/{pid}/{name}")).ok()
}

/// Peak resident memory (VmHWM, kB) of a local PostgreSQL backend, or
/// None where pid is not a postgres process here.
fn backend_hwm_kb(pid: i32) -> Option<u64> {
    let status = backend_proc_file(pid, "status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// This process's CPU time so far (all threads, user + system), seconds.
fn client_cpu() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// What one worker did.
struct Done {
    rows: u64,
    backend_cpu_ns: Option<u64>,
    backend_hwm_kb: Option<u64>,
}

/// Write rows as one multi-row INSERT.
async fn insert_batch<R: Row>(
    conn: &mut sqlx::PgConnection,
    table: &str,
    rows: &mut Vec<R>,
) -> Result<()> {
    let mut insert = Query::insert();
    // "schema.table" or "table"
    match table.split_once('.') {
        Some((schema, name)) => insert.into_table((Alias::new(schema), Alias::new(name))),
        None => insert.into_table(Alias::new(table)),
    };
    insert.columns(R::COLUMNS.iter().map(|c| Alias::new(*c)));
    for row in rows.drain(..) {
        insert.values_panic(row.into_values()?);
    }
    let (sql, values) = insert.build_sqlx(PostgresQueryBuilder);
    sqlx::query_with(&sql, values).execute(conn).await?;
    Ok(())
}

/// Read one _id range and write it to PostgreSQL in one transaction.
async fn worker<R: Row>(
    coll: Collection<R>,
    filter: Document,
    pool: PgPool,
    table: String,
    batch: usize,
) -> Result<Done> {
    let mut tx = pool.begin().await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *tx)
        .await?;
    let cpu0 = backend_cpu_ns(pid);

    let mut cursor = coll.find(filter).batch_size(CURSOR_BATCH).await?;
    let mut rows = Vec::with_capacity(batch);
    let mut count = 0u64;
    while let Some(row) = cursor.try_next().await? {
        rows.push(row);
        count += 1;
        if rows.len() == batch {
            insert_batch(&mut tx, &table, &mut rows).await?;
        }
    }
    if !rows.is_empty() {
        insert_batch(&mut tx, &table, &mut rows).await?;
    }
    tx.commit().await?;

    let cpu1 = backend_cpu_ns(pid);
    Ok(Done {
        rows: count,
        backend_cpu_ns: cpu0.zip(cpu1).map(|(a, b)| b - a),
        backend_hwm_kb: backend_hwm_kb(pid),
    })
}

/// The _id at position skip in _id order: where a worker's range starts.
async fn split_point(coll: &Collection<Document>, skip: u64) -> Result<Bson> {
    let doc = coll
        .find_one(doc! {})
        .sort(doc! {"_id": 1})
        .skip(skip)
        .projection(doc! {"_id": 1})
        .await?
        .ok_or("the collection changed size")?;
    Ok(doc.get("_id").ok_or("a document has no _id")?.clone())
}

async fn run<R: Row>(o: Options) -> Result<()> {
    // the SQL has one $n parameter per value: PostgreSQL takes 65535
    if o.batch * R::COLUMNS.len() > 65535 {
        return Err(format!(
            "--batch {} makes more than 65535 parameters per statement",
            o.batch
        )
        .into());
    }
    let client = Client::with_uri_str(&o.mongo_uri).await?;
    let docs: Collection<Document> = client.database(&o.db).collection(&o.collection);
    let count = docs.estimated_document_count().await?;
    // no more workers than documents (an empty collection: one, reading nothing)
    let o = Options {
        workers: o.workers.min(count.max(1)),
        ..o
    };
    let pool = PgPoolOptions::new()
        .max_connections(o.workers as u32)
        .connect_with(pg_options(&o.pg)?)
        .await?;

    let t0 = Instant::now();
    let cpu0 = client_cpu();
    let mut bounds = vec![Bson::Null; o.workers as usize + 1];
    for i in 1..o.workers {
        bounds[i as usize] = split_point(&docs, count * i / o.workers).await?;
    }
    let mut tasks = Vec::new();
    for i in 0..o.workers as usize {
        let mut range = Document::new();
        if i > 0 {
            range.insert("$gte", bounds[i].clone());
        }
        if i + 1 < o.workers as usize {
            range.insert("$lt", bounds[i + 1].clone());
        }
        let filter = if range.is_empty() {
            doc! {}
        } else {
            doc! {"_id": range}
        };
        let coll: Collection<R> = client.database(&o.db).collection(&o.collection);
        tasks.push(tokio::spawn(worker(
            coll,
            filter,
            pool.clone(),
            o.table.clone(),
            o.batch,
        )));
    }
    let mut rows = 0u64;
    let mut backend_ns = Some(0u64);
    let mut hwm_kb = Some(0u64);
    for (i, task) in tasks.into_iter().enumerate() {
        let done = task.await?.map_err(|e| format!("worker {i}: {e}"))?;
        rows += done.rows;
        backend_ns = backend_ns.zip(done.backend_cpu_ns).map(|(a, b)| a + b);
        hwm_kb = hwm_kb.zip(done.backend_hwm_kb).map(|(a, b)| a.max(b));
    }
    let seconds = t0.elapsed().as_secs_f64();
    let client_s = client_cpu() - cpu0;
    pool.close().await;

    let per_row = |s: f64| if rows > 0 { s * 1e6 / rows as f64 } else { 0.0 };
    let (backend, backend_per_row) = match backend_ns {
        Some(ns) => {
            let s = ns as f64 / 1e9;
            (format!("{s:.3}"), format!("{:.2}", per_row(s)))
        }
        None => ("NA".into(), "NA".into()),
    };
    println!(
        "rows={rows} seconds={seconds:.3} rows_per_s={:.0} client_cpu_s={client_s:.3} \
         backend_cpu_s={backend} client_cpu_us_per_row={:.2} backend_cpu_us_per_row={backend_per_row} \
         backend_hwm_kb={}",
        if seconds > 0.0 { rows as f64 / seconds } else { 0.0 },
        per_row(client_s),
        hwm_kb.map_or("NA".to_string(), |k| k.to_string()),
    );
    Ok(())
}

#[tokio::main]
async fn main() {
    let result = match parse_args() {
        Ok(o) => match o.shape.as_str() {
            "flat" => run::<Flat>(o).await,
            "user" => run::<User>(o).await,
            "orders" => run::<Orders>(o).await,
            _ => Err(USAGE.into()),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("etl_rust: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    //! Decimal128 -> numeric, which FerretDB cannot store: documents are
    //! encoded to BSON here and read with bson::from_slice, as the cursor
    //! reads them.  With ETL_RUST_TEST_PG set to a conninfo, the rows are
    //! also inserted into a temporary table, as the program inserts them,
    //! and compared with PostgreSQL's own reading of the decimal string.
    use super::*;
    use sqlx::Connection;

    const DECIMALS: &[&str] = &[
        "1234.50",
        "-0.01",
        "0",
        "0.000",
        "-0.00",
        "1E+3",
        "1.23E-10",
        "10000000.00",
        "-100000.00",
        "9999999999999999999999999999999999",
        "1.234567890123456789012345678901234E+100",
        "-1.000000000000000000000000000000000E-100",
        "0.0000000000000000000000000000000001",
    ];

    fn user_with_balance(seq: i32, balance: Bson) -> User {
        let doc = doc! {
            "_id": ObjectId::new(), "seq": seq, "name": "Ann Lee",
            "email": "ann.lee1@example.com", "age": 30,
            "created": DateTime::from_millis(1_500_000_000_123),
            "score": 12.5, "active": true, "balance": balance,
            "address": {"street": "1 Main Street", "city": "Zürich", "zip": "00001"},
            "tags": ["vip", "beta"],
        };
        bson::from_slice(&bson::to_vec(&doc).unwrap()).unwrap()
    }

    #[test]
    fn decimal128_to_bigdecimal_is_exact() {
        for s in DECIMALS {
            let d = Decimal128::from_str(s).unwrap();
            let b = decimal(Some(d), &ObjectId::new()).unwrap().unwrap();
            // the same digits and exponent as the decimal string
            assert_eq!(
                b.as_bigint_and_exponent(),
                BigDecimal::from_str(s).unwrap().as_bigint_and_exponent(),
                "{s}"
            );
        }
        for s in ["NaN", "Infinity", "-Infinity"] {
            let d = Decimal128::from_str(s).unwrap();
            assert!(decimal(Some(d), &ObjectId::new()).is_err(), "{s}");
        }
        assert!(decimal(None, &ObjectId::new()).unwrap().is_none());
    }

    #[test]
    fn orders_document_to_values() {
        let doc = doc! {
            "_id": ObjectId::new(), "seq": 1, "name": "Bo Chen", "email": "b@example.com",
            "age": 40, "created": DateTime::from_millis(0), "score": 1.0, "active": false,
            "address": {"street": "2 Main Street", "city": "Oslo", "zip": "12345"},
            "tags": [],
            "orders": [{"sku": "SKU-0001", "qty": 2, "price": 9.99,
                        "at": DateTime::from_millis(1_500_000_000_000)}],
        };
        let row: Orders = bson::from_slice(&bson::to_vec(&doc).unwrap()).unwrap();
        let values = row.into_values().unwrap();
        assert_eq!(values.len(), Orders::COLUMNS.len());
        let orders = json_documents(Some(vec![doc.get_array("orders").unwrap()[0]
            .as_document()
            .unwrap()
            .clone()]))
        .unwrap();
        assert_eq!(
            orders.to_string(),
            r#"[{"sku":"SKU-0001","qty":2,"price":9.99,"at":{"$date":"2017-07-14T02:40:00Z"}}]"#
        );
    }

    #[tokio::test]
    async fn decimal128_into_numeric() {
        let Ok(conninfo) = std::env::var("ETL_RUST_TEST_PG") else {
            eprintln!("ETL_RUST_TEST_PG not set: not inserting into PostgreSQL");
            return;
        };
        let mut conn = sqlx::PgConnection::connect_with(&pg_options(&conninfo).unwrap())
            .await
            .unwrap();
        sqlx::query("SET TimeZone = 'UTC'")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(
            "CREATE TEMP TABLE decimals (_id text, seq int, name text, email text, age int, \
             created timestamptz, score float8, active bool, balance numeric, city text, \
             tags jsonb)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let mut rows: Vec<User> = DECIMALS
            .iter()
            .enumerate()
            .map(|(i, s)| user_with_balance(i as i32, Bson::Decimal128(s.parse().unwrap())))
            .collect();
        rows.push(user_with_balance(-1, Bson::Null));
        insert_batch(&mut conn, "decimals", &mut rows)
            .await
            .unwrap();
        for (i, s) in DECIMALS.iter().enumerate() {
            let (got, want): (String, String) = sqlx::query_as(
                "SELECT balance::text, $2::numeric::text FROM decimals WHERE seq = $1",
            )
            .bind(i as i32)
            .bind(*s)
            .fetch_one(&mut conn)
            .await
            .unwrap();
            assert_eq!(got, want, "Decimal128 {s}");
        }
        let null: Option<String> =
            sqlx::query_scalar("SELECT balance::text FROM decimals WHERE seq = -1")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(null, None);
        let other: (String, String, String, String) = sqlx::query_as(
            "SELECT created::text, city, tags::text, score::text FROM decimals WHERE seq = 0",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(
            other,
            (
                "2017-07-14 02:40:00.123+00".to_string(),
                "Zürich".to_string(),
                r#"["vip", "beta"]"#.to_string(),
                "12.5".to_string()
            )
        );
    }
}
