//! The copy list of `switchboard db copy` ([`store::transfer::TABLES`]) against this
//! backend's migrations: every table of the migrated schema is in it, with the same
//! columns, types, nullability and primary key, so no table or column is left behind
//! silently when a migration adds one.

use std::collections::BTreeMap;

use sqlx::Row as _;
use store::transfer::{ColumnType, NOT_COPIED, TABLES};

use crate::tests::mem;

/// The declared type a column of `ty` has in this backend's migrations.
fn declared(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Int | ColumnType::Bool => "INTEGER",
        ColumnType::Text => "TEXT",
        ColumnType::Bytes => "BLOB",
    }
}

#[tokio::test]
async fn the_copy_list_has_every_table_and_column_of_the_schema() {
    let s = mem().await;
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    let mut in_schema: Vec<&str> = tables
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !NOT_COPIED.iter().any(|(t, _)| t == n))
        .collect();
    let mut listed: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    in_schema.sort_unstable();
    listed.sort_unstable();
    assert_eq!(
        in_schema, listed,
        "the tables of the SQLite schema and store::transfer::TABLES differ: add the new \
         table to TABLES (in foreign-key order) so that db copy moves it, or to NOT_COPIED \
         saying why not"
    );
    for t in TABLES {
        let sql = &tables.iter().find(|(n, _)| n == t.name).unwrap().1;
        let columns = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{}')",
            t.name
        )))
        .fetch_all(s.pool())
        .await
        .unwrap();
        let mut actual: BTreeMap<String, (String, bool)> = BTreeMap::new();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for c in &columns {
            let name: String = c.get("name");
            let notnull: i64 = c.get("notnull");
            let at: i64 = c.get("pk");
            if at > 0 {
                pk.push((at, name.clone()));
            }
            actual.insert(name, (c.get::<String, _>("type"), notnull == 0));
        }
        let expected: BTreeMap<String, (String, bool)> = t
            .columns
            .iter()
            .map(|c| (c.name.to_owned(), (declared(c.ty).to_owned(), c.nullable)))
            .collect();
        assert_eq!(actual, expected, "columns of {} (type, nullable)", t.name);
        pk.sort();
        let pk: Vec<&str> = pk.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(pk, t.key, "primary key of {}", t.name);
        // A flag is an INTEGER that only holds 0 or 1.
        for c in t.columns.iter().filter(|c| c.ty == ColumnType::Bool) {
            let check = format!("CHECK ({} IN (0, 1))", c.name);
            assert!(sql.contains(&check), "{}.{}: no {check}", t.name, c.name);
        }
    }
}
