//! Row-level access for `switchboard db copy` ([`Transfer`]): reads in key order with
//! row comparisons (`WHERE (k1, k2) > ($1, $2)`), writes a batch as one multi-row
//! `INSERT … ON CONFLICT DO NOTHING` in its own transaction. Audit rows are inserted
//! with their stored sequence numbers and hashes: the triggers refuse only `UPDATE`,
//! `DELETE` and `TRUNCATE` of `audit_log`, and `audit_head` (the migration's genesis
//! row, sequence 0, which is neither counted nor read) only moves forward.

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgRow, Postgres};
use sqlx::{AssertSqlSafe, QueryBuilder, Row as _};
use store::transfer::{ColumnType, Row, SchemaVersion, Table, Transfer, Value};
use store::{StoreError, StoreResult};

use crate::{MIGRATOR, PgStore, err};

/// The select list: integer columns read as `BIGINT` whatever their width.
fn select_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| match c.ty {
            ColumnType::Int => format!("\"{0}\"::bigint AS \"{0}\"", c.name),
            _ => format!("\"{}\"", c.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows a table holds that are not data: the audit head's genesis row.
fn placeholder_filter(table: &Table) -> Option<&'static str> {
    (table.name == "audit_head").then_some("\"seq\" > 0")
}

fn bind<'q>(
    q: sqlx::query::Query<'q, Postgres, PgArguments>,
    v: &Value,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    match v {
        Value::Null => q.bind(None::<i64>),
        Value::Int(n) => q.bind(*n),
        Value::Bool(b) => q.bind(*b),
        Value::Text(s) => q.bind(s.clone()),
        Value::Bytes(b) => q.bind(b.clone()),
    }
}

/// Binds `v` for a column of type `ty` (a NULL gets the column's type).
fn push_value(
    qb: &mut sqlx::query_builder::Separated<'_, Postgres, &str>,
    ty: ColumnType,
    v: &Value,
) {
    match (v, ty) {
        (Value::Null, ColumnType::Int) => qb.push_bind(None::<i64>),
        (Value::Null, ColumnType::Bool) => qb.push_bind(None::<bool>),
        (Value::Null, ColumnType::Text) => qb.push_bind(None::<String>),
        (Value::Null, ColumnType::Bytes) => qb.push_bind(None::<Vec<u8>>),
        (Value::Int(n), _) => qb.push_bind(*n),
        (Value::Bool(b), _) => qb.push_bind(*b),
        (Value::Text(s), _) => qb.push_bind(s.clone()),
        (Value::Bytes(b), _) => qb.push_bind(b.clone()),
    };
}

fn value_of(table: &Table, r: &PgRow, i: usize) -> StoreResult<Value> {
    let c = &table.columns[i];
    let bad = |e: sqlx::Error| StoreError::Corrupt(format!("{}.{}: {e}", table.name, c.name));
    Ok(match c.ty {
        ColumnType::Int => r
            .try_get::<Option<i64>, _>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Int),
        ColumnType::Bool => r
            .try_get::<Option<bool>, _>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Bool),
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
impl Transfer for PgStore {
    async fn schema_version(&self) -> StoreResult<SchemaVersion> {
        let known = MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        let applied = if exists {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
        } else {
            Vec::new()
        };
        Ok(SchemaVersion { applied, known })
    }

    async fn count(&self, table: &Table) -> StoreResult<u64> {
        let filter = placeholder_filter(table)
            .map(|f| format!(" WHERE {f}"))
            .unwrap_or_default();
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM \"{}\"{filter}",
            table.name
        )))
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        Ok(crate::count(n))
    }

    async fn read(
        &self,
        table: &Table,
        after: Option<&[Value]>,
        limit: u32,
    ) -> StoreResult<Vec<Row>> {
        let key = table.key_list();
        let mut conditions: Vec<String> = placeholder_filter(table)
            .map(str::to_owned)
            .into_iter()
            .collect();
        let mut n = 0;
        if after.is_some() {
            let placeholders: Vec<String> = table
                .key
                .iter()
                .map(|_| {
                    n += 1;
                    format!("${n}")
                })
                .collect();
            conditions.push(format!("({key}) > ({})", placeholders.join(", ")));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {} FROM \"{}\"{filter} ORDER BY {key} LIMIT ${}",
            select_list(table),
            table.name,
            n + 1
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
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(table.insert_head());
        qb.push_values(rows, |mut b, row| {
            for (c, v) in table.columns.iter().zip(row) {
                push_value(&mut b, c.ty, v);
            }
        });
        qb.push(table.on_conflict());
        let mut tx = self.pool.begin().await.map_err(err)?;
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
        // Planner statistics for the tables just filled, rather than waiting for
        // autovacuum to notice them.
        for t in store::transfer::TABLES {
            sqlx::query(AssertSqlSafe(format!("ANALYZE \"{}\"", t.name)))
                .execute(&self.pool)
                .await
                .map_err(err)?;
        }
        Ok(())
    }
}
