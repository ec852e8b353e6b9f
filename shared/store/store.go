// Package store is logagg's PostgreSQL layer and the only code that writes
// rows: it applies the embedded migrations, commits consumed batches
// exactly once, and answers the read queries.
package store
