//! Moving every row from one backend to another (`switchboard db copy`), without the
//! master key: rows travel as stored, so secrets stay sealed, ids, timestamps and the
//! audit chain's hashes are kept.
//!
//! [`TABLES`] lists every table of the schema in foreign-key order, with its columns
//! and key; both backends' tests fail when a table or column of their migrations is
//! missing here or differs in type or nullability. A row is a [`Row`] of neutral
//! [`Value`]s in the order of its table's columns. A backend implements [`Transfer`]:
//! counts, keyset-paginated reads in key order, idempotent writes (a row whose key is
//! already there is left as it is, so an interrupted copy can simply be run again), and
//! a finishing step.

use async_trait::async_trait;

use crate::{StoreError, StoreResult};

/// The neutral type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A 64-bit integer (SQLite `INTEGER`, PostgreSQL `BIGINT` or `INTEGER`).
    Int,
    /// A flag (SQLite `INTEGER` 0 or 1, PostgreSQL `BOOLEAN`).
    Bool,
    /// Text (`TEXT`).
    Text,
    /// Bytes (SQLite `BLOB`, PostgreSQL `BYTEA`).
    Bytes,
}

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Its name, the same in every backend.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// Whether it may hold NULL.
    pub nullable: bool,
}

/// What a write does with a row whose key is already on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Keeps the row that is there (`ON CONFLICT DO NOTHING`).
    Keep,
    /// Replaces it when the incoming row's integer column `by` is greater: for
    /// `audit_head`, which only moves forward, so a copy never moves a head back.
    Forward {
        /// The column compared.
        by: &'static str,
    },
}

/// One table: its name, columns in a fixed order, and key (unique, never NULL), by which
/// reads are ordered and paginated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// Its name, the same in every backend.
    pub name: &'static str,
    /// Every column, in the order of a [`Row`].
    pub columns: &'static [Column],
    /// The key's columns, some of `columns`.
    pub key: &'static [&'static str],
    /// What a write does with a row whose key exists.
    pub merge: Merge,
}

/// `"a", "b"`: names quoted as SQL identifiers (the names are this module's constants).
fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Table {
    /// `"a", "b"`: every column, quoted, in the order of a [`Row`].
    pub fn column_list(&self) -> String {
        quoted(self.columns.iter().map(|c| c.name))
    }

    /// `"k1", "k2"`: the key's columns, quoted.
    pub fn key_list(&self) -> String {
        quoted(self.key.iter().copied())
    }

    /// `INSERT INTO "t" ("a", "b") `: the start of a write of whole rows (the values
    /// follow in the backend's own placeholders).
    pub fn insert_head(&self) -> String {
        format!("INSERT INTO \"{}\" ({}) ", self.name, self.column_list())
    }

    /// What a write does with a row whose key is there ([`Merge`]), as the `ON CONFLICT`
    /// clause both backends understand.
    pub fn on_conflict(&self) -> String {
        match self.merge {
            Merge::Keep => " ON CONFLICT DO NOTHING".to_owned(),
            Merge::Forward { by } => {
                let set: Vec<String> = self
                    .columns
                    .iter()
                    .filter(|c| !self.key.contains(&c.name))
                    .map(|c| format!("\"{0}\" = excluded.\"{0}\"", c.name))
                    .collect();
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {} WHERE excluded.\"{by}\" > \"{}\".\"{by}\"",
                    self.key_list(),
                    set.join(", "),
                    self.name
                )
            }
        }
    }

    /// The positions of the key's columns in a row.
    pub fn key_positions(&self) -> Vec<usize> {
        self.key
            .iter()
            .map(|k| {
                self.columns
                    .iter()
                    .position(|c| c.name == *k)
                    .unwrap_or_else(|| panic!("{}: key column {k} is not a column", self.name))
            })
            .collect()
    }

    /// The key of `row`, to read on after it.
    pub fn key_of(&self, row: &Row) -> Vec<Value> {
        self.key_positions()
            .into_iter()
            .map(|i| row.get(i).cloned().unwrap_or(Value::Null))
            .collect()
    }

    /// Checks that `row` has one value per column, of the column's type, NULL only where
    /// allowed: a backend refuses a row that does not fit before writing anything.
    pub fn check(&self, row: &Row) -> StoreResult<()> {
        if row.len() != self.columns.len() {
            return Err(StoreError::Corrupt(format!(
                "{}: a row of {} values for {} columns",
                self.name,
                row.len(),
                self.columns.len()
            )));
        }
        for (c, v) in self.columns.iter().zip(row) {
            let fits = match (v, c.ty) {
                (Value::Null, _) => c.nullable,
                (Value::Int(_), ColumnType::Int)
                | (Value::Bool(_), ColumnType::Bool)
                | (Value::Text(_), ColumnType::Text)
                | (Value::Bytes(_), ColumnType::Bytes) => true,
                _ => false,
            };
            if !fits {
                return Err(StoreError::Corrupt(format!(
                    "{}.{}: a {} value for a {:?}{} column",
                    self.name,
                    c.name,
                    v.kind(),
                    c.ty,
                    if c.nullable { "" } else { " NOT NULL" }
                )));
            }
        }
        Ok(())
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A flag.
    Bool(bool),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl Value {
    /// The variant's name, for messages (never the value: it may be sealed bytes).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "integer",
            Value::Bool(_) => "boolean",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
        }
    }
}

/// A row: one value per column of its table, in the table's order.
pub type Row = Vec<Value>;

/// Which migrations a database has applied, against the ones this build knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaVersion {
    /// Versions applied to the database, ascending.
    pub applied: Vec<i64>,
    /// Versions this build's migrations have, ascending.
    pub known: Vec<i64>,
}

impl SchemaVersion {
    /// Applied versions this build does not know: the database was migrated by a newer
    /// build.
    pub fn unknown(&self) -> Vec<i64> {
        self.applied
            .iter()
            .filter(|v| !self.known.contains(v))
            .copied()
            .collect()
    }

    /// Known versions not applied yet.
    pub fn pending(&self) -> Vec<i64> {
        self.known
            .iter()
            .filter(|v| !self.applied.contains(v))
            .copied()
            .collect()
    }

    /// Whether the database is exactly at this build's schema.
    pub fn current(&self) -> bool {
        self.unknown().is_empty() && self.pending().is_empty()
    }

    /// Why a database that must be at this build's schema is not (`None`: it is), in
    /// the order a reader is told: newer first, then never migrated, then behind.
    pub fn gap(&self) -> Option<SchemaGap> {
        let unknown = self.unknown();
        if !unknown.is_empty() {
            Some(SchemaGap::Newer(unknown))
        } else if self.applied.is_empty() {
            Some(SchemaGap::Unmigrated)
        } else if !self.pending().is_empty() {
            Some(SchemaGap::Behind {
                applied: self.applied.len(),
                known: self.known.len(),
            })
        } else {
            None
        }
    }
}

/// How a database differs from this build's schema ([`SchemaVersion::gap`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaGap {
    /// Migrated by a newer build: these versions are unknown to this one.
    Newer(Vec<i64>),
    /// No Switchboard migration applied at all.
    Unmigrated,
    /// Some of this build's migrations are not applied yet.
    Behind {
        /// Migrations applied.
        applied: usize,
        /// Migrations this build has.
        known: usize,
    },
}

/// Row-level access to a whole database, for copying it to another backend.
#[async_trait]
pub trait Transfer: Send + Sync {
    /// The migrations applied, and those this build knows. Works on a database never
    /// migrated (nothing applied).
    async fn schema_version(&self) -> StoreResult<SchemaVersion>;
    /// The number of rows of `table`. A row a backend keeps only as a placeholder (the
    /// PostgreSQL audit head before the first entry) is not counted, nor read.
    async fn count(&self, table: &Table) -> StoreResult<u64>;
    /// Up to `limit` rows of `table` in key order, strictly after the key `after` when
    /// given (keyset pagination: rows added or removed meanwhile do not shift pages).
    async fn read(
        &self,
        table: &Table,
        after: Option<&[Value]>,
        limit: u32,
    ) -> StoreResult<Vec<Row>>;
    /// Writes `rows` into `table` in one transaction, each as its table's [`Merge`]
    /// says when its key (or another unique key) is there already; returns how many
    /// rows were inserted or moved forward. Rows come with every value as stored
    /// (audit rows with their sequence numbers and hashes). A row that does not fit the
    /// table ([`Table::check`]) fails the whole call and writes nothing.
    async fn write(&self, table: &Table, rows: &[Row]) -> StoreResult<u64>;
    /// Runs after every table was written: whatever the backend needs for the data to
    /// be used well at once (fresh planner statistics).
    async fn finish(&self) -> StoreResult<()>;
}

const fn col(name: &'static str, ty: ColumnType, nullable: bool) -> Column {
    Column { name, ty, nullable }
}

use ColumnType::{Bool, Bytes, Int, Text};

/// Tables of the schema that a copy leaves behind, each with why: state that belongs to
/// the running servers of one database, not to the deployment's data.
pub static NOT_COPIED: &[(&str, &str)] = &[
    (
        "audit_checkpoint",
        "where the last verification of the audit chain ended; the copied chain has not been \
         verified on the new database, so its first check reads it whole",
    ),
    (
        "console_sessions",
        "admin console sign-ins (hashes of session ids, short-lived); admins sign in again \
         on the new database",
    ),
    (
        "console_logins",
        "OpenID Connect sign-ins to the console in flight for a few minutes",
    ),
    (
        "instances",
        "the live servers' membership for shared rate limits; each server writes its own row \
         when it starts, and a copied one would only count a server that is not there",
    ),
    (
        "status_counters",
        "activity counters of the last 48 hours for `switchboard status` (webhooks received \
         and refused, refresh failures); the servers on the new database count afresh",
    ),
];

/// Every table of the schema that a copy moves, parents before children (`deliveries`
/// after `events`); with [`NOT_COPIED`], every table. Columns that the database computes
/// (`oauth_states.key_id`, read from the sealed value's header) are not listed: each
/// backend recomputes them from the copied row.
pub static TABLES: &[Table] = &[
    Table {
        name: "api_keys",
        columns: &[
            col("id", Text, false),
            col("name", Text, false),
            col("scope", Text, false),
            col("secret_hash", Bytes, false),
            col("created_at", Int, false),
            col("last_used_at", Int, true),
            col("revoked_at", Int, true),
        ],
        key: &["id"],
        merge: Merge::Keep,
    },
    Table {
        name: "secrets",
        columns: &[
            col("owner", Text, false),
            col("owner_id", Text, false),
            col("name", Text, false),
            col("key_id", Text, false),
            col("ciphertext", Bytes, false),
            col("version", Int, false),
            col("updated_at", Int, false),
        ],
        key: &["owner", "owner_id", "name"],
        merge: Merge::Keep,
    },
    Table {
        name: "audit_log",
        columns: &[
            col("seq", Int, false),
            col("at", Int, false),
            col("actor", Text, false),
            col("action", Text, false),
            col("target", Text, false),
            col("details", Text, false),
            col("prev_hash", Text, false),
            col("hash", Text, false),
        ],
        key: &["seq"],
        merge: Merge::Keep,
    },
    Table {
        name: "audit_head",
        columns: &[
            col("id", Int, false),
            col("seq", Int, false),
            col("hash", Text, false),
        ],
        key: &["id"],
        merge: Merge::Forward { by: "seq" },
    },
    Table {
        name: "integration_state",
        columns: &[
            col("integration", Text, false),
            col("blocked", Bool, false),
            col("disabled", Bool, false),
            col("updated_at", Int, false),
        ],
        key: &["integration"],
        merge: Merge::Keep,
    },
    Table {
        name: "connections",
        columns: &[
            col("id", Text, false),
            col("integration", Text, false),
            col("provider", Text, false),
            col("end_user_id", Text, false),
            col("auth_mode", Text, false),
            col("status", Text, false),
            col("scopes", Text, false),
            col("missing_scopes", Text, false),
            col("settings", Text, false),
            col("routing_key", Text, true),
            col("expires_at", Int, true),
            col("created_at", Int, false),
            col("updated_at", Int, false),
            col("last_refresh_at", Int, true),
            col("last_error", Text, true),
            col("refresh_failures", Int, false),
            col("next_refresh_at", Int, true),
            col("token_version", Int, false),
            col("lease_fence", Int, false),
            col("lease_until", Int, true),
            col("token_obtained_at", Int, true),
            col("health_checked_at", Int, true),
            col("health_result", Text, true),
            col("health_detail", Text, true),
            col("health_next_at", Int, true),
            col("lifecycle_at", Int, true),
        ],
        key: &["id"],
        merge: Merge::Keep,
    },
    Table {
        name: "connect_sessions",
        columns: &[
            col("token_hash", Bytes, false),
            col("end_user_id", Text, false),
            col("integrations", Text, false),
            col("connection_id", Text, true),
            col("return_to", Text, true),
            col("opener_origin", Text, true),
            col("created_at", Int, false),
            col("expires_at", Int, false),
        ],
        key: &["token_hash"],
        merge: Merge::Keep,
    },
    Table {
        name: "oauth_states",
        columns: &[
            col("state_hash", Bytes, false),
            col("integration", Text, false),
            col("connection_id", Text, false),
            col("end_user_id", Text, false),
            col("session_hash", Bytes, false),
            col("return_to", Text, true),
            col("opener_origin", Text, true),
            col("settings", Text, false),
            col("sealed", Bytes, false),
            col("created_at", Int, false),
            col("expires_at", Int, false),
        ],
        key: &["state_hash"],
        merge: Merge::Keep,
    },
    Table {
        name: "events",
        columns: &[
            col("id", Text, false),
            col("integration", Text, false),
            col("received_at", Int, false),
            col("provider_event_id", Text, true),
            col("event_type", Text, true),
            col("scheme", Text, false),
            col("headers", Text, false),
            col("body", Bytes, false),
            col("connection_id", Text, true),
            col("routing_key", Text, true),
            col("routed_at", Int, true),
            col("mapping_status", Text, true),
            col("mapped_type", Text, true),
            col("mapped_data", Text, true),
            col("mapping_error", Text, true),
            col("payload_purged_at", Int, true),
            col("purge_reason", Text, true),
        ],
        key: &["id"],
        merge: Merge::Keep,
    },
    Table {
        name: "deliveries",
        columns: &[
            col("id", Text, false),
            col("event_id", Text, false),
            col("destination", Text, false),
            col("status", Text, false),
            col("attempts", Int, false),
            col("next_attempt_at", Int, false),
            col("lease_owner", Text, true),
            col("lease_until", Int, true),
            col("lease_fence", Int, false),
            col("last_status", Int, true),
            col("last_error", Text, true),
            col("created_at", Int, false),
            col("delivered_at", Int, true),
        ],
        key: &["id"],
        merge: Merge::Keep,
    },
    Table {
        name: "delivery_attempts",
        columns: &[
            col("delivery_id", Text, false),
            col("number", Int, false),
            col("started_at", Int, false),
            col("duration_ms", Int, false),
            col("http_status", Int, true),
            col("outcome", Text, false),
            col("excerpt", Text, true),
        ],
        key: &["delivery_id", "number"],
        merge: Merge::Keep,
    },
    Table {
        name: "oauth_tests",
        columns: &[
            col("integration", Text, false),
            col("ok", Bool, false),
            col("failed_checks", Text, false),
            col("tested_at", Int, false),
        ],
        key: &["integration"],
        merge: Merge::Keep,
    },
    Table {
        name: "destination_state",
        columns: &[
            col("destination", Text, false),
            col("disabled", Bool, false),
            col("reason", Text, true),
            col("updated_at", Int, false),
        ],
        key: &["destination"],
        merge: Merge::Keep,
    },
    Table {
        name: "consent_records",
        columns: &[
            col("id", Text, false),
            col("connection_id", Text, true),
            col("end_user_id", Text, true),
            col("subject_hash", Text, true),
            col("integration", Text, false),
            col("kind", Text, false),
            col("scopes_requested", Text, false),
            col("scopes_granted", Text, false),
            col("connect_session", Text, true),
            col("return_origin", Text, true),
            col("at", Int, false),
        ],
        key: &["id"],
        merge: Merge::Keep,
    },
    Table {
        name: "erasures",
        columns: &[
            col("subject_hash", Text, false),
            col("erased_at", Int, false),
            col("counts", Text, false),
        ],
        key: &["subject_hash"],
        merge: Merge::Keep,
    },
];

/// The table named `name`.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_not_null_columns_and_names_are_unique() {
        let mut names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TABLES.len());
        for t in TABLES {
            assert!(!t.key.is_empty(), "{}", t.name);
            for i in t.key_positions() {
                assert!(!t.columns[i].nullable, "{}.{}", t.name, t.columns[i].name);
            }
            let mut cols: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
            cols.sort_unstable();
            cols.dedup();
            assert_eq!(cols.len(), t.columns.len(), "{}", t.name);
            if let Merge::Forward { by } = t.merge {
                let c = t.columns.iter().find(|c| c.name == by).unwrap();
                assert_eq!(c.ty, ColumnType::Int);
            }
        }
    }

    #[test]
    fn the_sql_pieces_quote_names_and_say_how_a_row_merges() {
        let t = |n: &str| TABLES.iter().find(|t| t.name == n).unwrap();
        let secrets = t("secrets");
        assert!(
            secrets.column_list().starts_with('"'),
            "{}",
            secrets.column_list()
        );
        assert_eq!(
            secrets.column_list().matches(", ").count() + 1,
            secrets.columns.len()
        );
        assert_eq!(
            secrets.key_list(),
            secrets
                .key
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert_eq!(
            secrets.insert_head(),
            format!("INSERT INTO \"secrets\" ({}) ", secrets.column_list())
        );
        assert_eq!(secrets.on_conflict(), " ON CONFLICT DO NOTHING");
        let head = t("audit_head");
        let Merge::Forward { by } = head.merge else {
            panic!("the audit head only moves forward")
        };
        let clause = head.on_conflict();
        assert!(
            clause.starts_with(&format!(
                " ON CONFLICT ({}) DO UPDATE SET ",
                head.key_list()
            )),
            "{clause}"
        );
        assert!(
            clause.ends_with(&format!(
                "WHERE excluded.\"{by}\" > \"audit_head\".\"{by}\""
            )),
            "{clause}"
        );
        for k in head.key {
            assert!(!clause.contains(&format!("\"{k}\" = excluded")), "{clause}");
        }
    }

    #[test]
    fn parents_come_before_children() {
        let at = |n: &str| TABLES.iter().position(|t| t.name == n).unwrap();
        assert!(at("events") < at("deliveries"));
        assert!(at("audit_log") < at("audit_head"));
    }

    #[test]
    fn check_refuses_rows_that_do_not_fit_without_showing_values() {
        let t = table("audit_head").unwrap();
        t.check(&vec![Value::Int(1), Value::Int(2), Value::Text("h".into())])
            .unwrap();
        let short = t.check(&vec![Value::Int(1)]).unwrap_err().to_string();
        assert!(short.contains("1 values for 3 columns"), "{short}");
        let null = t
            .check(&vec![Value::Int(1), Value::Null, Value::Text("h".into())])
            .unwrap_err()
            .to_string();
        assert!(
            null.contains("audit_head.seq") && null.contains("NULL"),
            "{null}"
        );
        let s = table("secrets").unwrap();
        let wrong = s
            .check(&vec![
                Value::Text("o".into()),
                Value::Text("i".into()),
                Value::Text("n".into()),
                Value::Text("k".into()),
                Value::Text("sealed-bytes-as-text".into()),
                Value::Int(1),
                Value::Int(2),
            ])
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("secrets.ciphertext"), "{wrong}");
        assert!(!wrong.contains("sealed-bytes-as-text"), "{wrong}");
    }

    #[test]
    fn schema_versions_tell_pending_from_unknown() {
        let v = SchemaVersion {
            applied: vec![1, 2],
            known: vec![1, 2, 3],
        };
        assert_eq!(v.pending(), vec![3]);
        assert!(v.unknown().is_empty());
        assert!(!v.current());
        let v = SchemaVersion {
            applied: vec![1, 2, 3, 4],
            known: vec![1, 2, 3],
        };
        assert_eq!(v.unknown(), vec![4]);
        let v = SchemaVersion {
            applied: vec![1, 2, 3],
            known: vec![1, 2, 3],
        };
        assert!(v.current());
    }

    #[test]
    fn a_schema_gap_says_newer_first_then_unmigrated_then_behind() {
        let v = |applied: Vec<i64>| SchemaVersion {
            applied,
            known: vec![1, 2, 3],
        };
        assert_eq!(v(vec![1, 2, 3]).gap(), None);
        assert_eq!(v(vec![1, 4]).gap(), Some(SchemaGap::Newer(vec![4])));
        assert_eq!(v(vec![]).gap(), Some(SchemaGap::Unmigrated));
        assert_eq!(
            v(vec![1, 2]).gap(),
            Some(SchemaGap::Behind {
                applied: 2,
                known: 3
            })
        );
    }
}
