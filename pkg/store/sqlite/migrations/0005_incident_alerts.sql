-- +goose Up
-- alerts is where each alert of the incident has got (store.AlertState,
-- as JSON), so that an older state recorded after a newer one is not
-- taken as news.
ALTER TABLE incidents ADD COLUMN alerts TEXT NOT NULL DEFAULT '[]';
