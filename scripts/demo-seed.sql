-- Demo data for ./scripts/run (idempotent). Listed in README.md: keep the two in step.
INSERT INTO accounts (id, name) VALUES ('demo', 'Demo Support Team') ON CONFLICT (id) DO NOTHING;

INSERT INTO subscriptions (account_id, product_code, plan, valid_until, named_seat_limit, concurrent_seat_limit, unattended_device_limit)
VALUES ('demo', 'remote-support', 'PAID', now() + interval '1 year', 2, 3, 10),
       ('demo', 'monitoring',     'TRIAL', now() + interval '30 days', 0, 0, 0)
ON CONFLICT (account_id, product_code) DO UPDATE SET valid_until = EXCLUDED.valid_until;

INSERT INTO agents (account_id, id, email, display_name, role, privileges) VALUES
    ('demo', 'alice', 'alice@demo.example', 'Alice Martin',  'ADMIN',   '{}'),
    ('demo', 'bob',   'bob@demo.example',   'Bob Durand',    'MANAGER', '{MANAGE_SEATS}'),
    ('demo', 'carol', 'carol@demo.example', 'Carol Petit',   'MEMBER',  '{}'),
    ('demo', 'dave',  'dave@demo.example',  'Dave Moreau',   'MEMBER',  '{}'),
    ('demo', 'erin',  'erin@demo.example',  'Erin Laurent',  'MEMBER',  '{}'),
    ('demo', 'frank', 'frank@demo.example', 'Frank Simon',   'MEMBER',  '{}'),
    ('demo', 'grace', 'grace@demo.example', 'Grace Lefevre', 'MEMBER',  '{}')
ON CONFLICT (account_id, id) DO NOTHING;

INSERT INTO seat_assignments (account_id, agent_id, product_code, seat_type) VALUES
    ('demo', 'alice', 'remote-support', 'NAMED'),
    ('demo', 'bob',   'remote-support', 'NAMED'),
    ('demo', 'carol', 'remote-support', 'CONCURRENT'),
    ('demo', 'dave',  'remote-support', 'CONCURRENT'),
    ('demo', 'erin',  'remote-support', 'CONCURRENT'),
    ('demo', 'frank', 'remote-support', 'CONCURRENT')
ON CONFLICT (account_id, product_code, agent_id) DO NOTHING;
