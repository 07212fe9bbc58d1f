-- 0020: the name people see for a product, per account (issue 27): subscriptions.display_name overrides the
-- catalog's products.name ("Remote Support"); NULL means the catalog's. Shown by the API, the console and the CLI
-- wherever a product is named, never the code (remote-support).
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS display_name text
    CONSTRAINT subscriptions_display_name_length CHECK (display_name IS NULL OR char_length(display_name) BETWEEN 1 AND 80);
