-- Issue #9's shared shape: site admins, display names and bios on users; room kinds.
-- `kind` is 'public', 'private' or 'direct'; every room made before this migration is public.
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN display_name TEXT DEFAULT NULL;
ALTER TABLE users ADD COLUMN bio TEXT NOT NULL DEFAULT '';
ALTER TABLE rooms ADD COLUMN kind TEXT NOT NULL DEFAULT 'public';
