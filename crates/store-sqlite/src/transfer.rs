//! Row-level access for `switchboard db copy` ([`Transfer`]): reads in key order with
//! row values (`WHERE (k1, k2) > (?, ?)`), writes a batch in one `BEGIN IMMEDIATE`
//! transaction with `ON CONFLICT DO NOTHING` (only uniqueness conflicts: a row that
//! breaks a CHECK or NOT NULL fails the batch instead of being skipped, as `INSERT OR
//! IGNORE` would). Flags are `INTEGER` 0/1 here.

use async_trait::async_trait;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, QueryBuilder, Row as _};
use store::transfer::{ColumnType, Row, SchemaVersion, Table, Transfer, Value};
use store::{StoreError, StoreResult};

use crate::{MIGRATOR, SqliteStore, err};

fn bind<'q>(
    q: sqlx::query::Query<'q, Sqlite, SqliteArguments>,
    v: &Value,
) -> sqlx::query::Query<'q, Sqlite, SqliteArguments> {
    match v {
        Value::Null => q.bind(None::<i64>),
        Value::Int(n) => q.bind(*n),
        Value::Bool(b) => q.bind(i64::from(*b)),
        Value::Text(s) => q.bind(s.clone()),
        Value::Bytes(b) => q.bind(b.clone()),
    }
}

fn push_value(qb: &mut sqlx::query_builder::Separated<'_, Sqlite, &str>, v: &Value) {
    match v {
        Value::Null => qb.push_bind(None::<i64>),
        Value::Int(n) => qb.push_bind(*n),
        Value::Bool(b) => qb.push_bind(i64::from(*b)),
        Value::Text(s) => qb.push_bind(s.clone()),
        Value::Bytes(b) => qb.push_bind(b.clone()),
    };
}

fn value_of(table: &Table, r: &SqliteRow, i: usize) -> StoreResult<Value> {
    let c = &table.columns[i];
    let bad = |e: sqlx::Error| StoreError::Corrupt(format!("{}.{}: {e}", table.name, c.name));
    Ok(match c.ty {
        ColumnType::Int => r
            .try_get::<Option<i64>, _>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Int),
        ColumnType::Bool => match r.try_get::<Option<i64>, _>(i).map_err(bad)? {
            None => Value::Null,
            Some(0) => Value::Bool(false),
            Some(1) => Value::Bool(true),
            Some(n) => {
                return Err(StoreError::Corrupt(format!(
                    "{}.{}: {n} where 0 or 1 was expected",
                    table.name, c.name
                )));
            }
        },
        ColumnType::Text => r
            .try_get::<Option<String>, _>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Text),
        ColumnType::Bytes => r
            .try_get::<Option<Vec<u8>>, _>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Bytes),
    })
}

#[async_trait]
impl Transfer for SqliteStore {
    async fn schema_version(&self) -> StoreResult<SchemaVersion> {
        let known = MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        let applied = if exists == 0 {
            Vec::new()
        } else {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
        };
        Ok(SchemaVersion { applied, known })
    }

    async fn count(&self, table: &Table) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM \"{}\"",
            table.name
        )))
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn read(
        &self,
        table: &Table,
        after: Option<&[Value]>,
        limit: u32,
    ) -> StoreResult<Vec<Row>> {
        let key = format!("({})", table.key_list());
        let placeholders = vec!["?"; table.key.len()].join(", ");
        let filter = if after.is_some() {
            format!("WHERE {key} > ({placeholders})")
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {} FROM \"{}\" {filter} ORDER BY {} LIMIT ?",
            table.column_list(),
            table.name,
            key.trim_start_matches('(').trim_end_matches(')'),
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for v in after.unwrap_or_default() {
            q = bind(q, v);
        }
        let rows = q
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                (0..table.columns.len())
                    .map(|i| value_of(table, r, i))
                    .collect()
            })
            .collect()
    }

    async fn write(&self, table: &Table, rows: &[Row]) -> StoreResult<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        for r in rows {
            table.check(r)?;
        }
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(table.insert_head());
        qb.push_values(rows, |mut b, row| {
            for v in row {
                push_value(&mut b, v);
            }
        });
        qb.push(table.on_conflict());
        let _lock = self.write_lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let done = qb
            .build()
            .persistent(false)
            .execute(&mut *tx)
            .await
            .map_err(|e| match err(e) {
                StoreError::Backend(m) => StoreError::Backend(format!("{}: {m}", table.name)),
                other => other,
            })?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected())
    }

    async fn finish(&self) -> StoreResult<()> {
        // Fold the copy's write-ahead log into the database file.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }
}
