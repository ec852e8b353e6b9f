// Package migrations holds logagg's PostgreSQL schema as numbered SQL files
// (001_initial.sql, 002_…), applied in order by tern's migrator. A file's
// down migration, when it has one, follows a
// "---- create above / drop below ----" line.
package migrations

import "embed"

// VersionTable is the table in which the migrator records the schema
// version.
const VersionTable = "logagg_schema_version"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
