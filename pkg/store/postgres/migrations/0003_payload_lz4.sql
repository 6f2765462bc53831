-- +goose Up
-- Payloads of more than 2 kB are compressed as they are stored: with lz4,
-- where the server has it (PostgreSQL 14 and later, built with it), which
-- takes half the time of the default pglz for a webhook's JSON and
-- compresses it as well. Rows stored before keep their compression.
-- +goose StatementBegin
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
		EXECUTE 'ALTER TABLE notifications ALTER COLUMN payload SET COMPRESSION lz4';
	END IF;
END
$$;
-- +goose StatementEnd
