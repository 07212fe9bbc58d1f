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

-- Four weeks of Remote Support history for the seat planner's worked example (README "How many seats do we
-- need?"): every weekday carol, erin and dave take the three shared seats in the morning; frank asks around
-- 10:00, waits in the queue and gets carol's seat when she leaves at noon; on Mondays carol comes back after
-- lunch, finds the pool full and is refused (and retries once). Times vary by a deterministic jitter, so the
-- rows are the same at every start (the unique sequence makes a second insert a no-op) and a later start only
-- adds the days since. The sequences follow the broker's rule (prelude.lua): the event's time in microseconds.
WITH days AS (
    SELECT d::date AS day, (d::date)::timestamp AT TIME ZONE 'UTC' AS midnight
    FROM generate_series(current_date - 28, current_date - 1, interval '1 day') AS d
    WHERE extract(isodow FROM d) < 6
),
jitter AS (
    SELECT day, midnight, extract(isodow FROM day) AS dow,
           (abs(hashtext('c1' || day)) % 30) AS c1, (abs(hashtext('c2' || day)) % 60) AS c2,
           (abs(hashtext('e1' || day)) % 30) AS e1, (abs(hashtext('e2' || day)) % 30) AS e2,
           (abs(hashtext('d1' || day)) % 30) AS d1, (abs(hashtext('d2' || day)) % 30) AS d2,
           (abs(hashtext('f1' || day)) % 60) AS f1, (abs(hashtext('f2' || day)) % 30) AS f2,
           (abs(hashtext('r1' || day)) % 30) AS r1
    FROM days
),
events (at, agent, action, lease, in_use, n) AS (
    SELECT midnight + interval '8 hours' + c1 * interval '1 minute', 'carol', 'seat.granted', 'c', 1, 0 FROM jitter
    UNION ALL SELECT midnight + interval '8 hours 30 minutes' + e1 * interval '1 minute', 'erin', 'seat.granted', 'e', 2, 0 FROM jitter
    UNION ALL SELECT midnight + interval '9 hours' + d1 * interval '1 minute', 'dave', 'seat.granted', 'd', 3, 0 FROM jitter
    UNION ALL SELECT midnight + interval '10 hours' + f1 * interval '1 minute', 'frank', 'queue.joined', NULL, NULL, 0 FROM jitter
    UNION ALL SELECT midnight + interval '12 hours' + c2 * interval '1 minute', 'carol', 'seat.released', 'c', NULL, 0 FROM jitter
    UNION ALL SELECT midnight + interval '12 hours' + c2 * interval '1 minute', 'frank', 'seat.granted', 'f', 3, 1 FROM jitter
    UNION ALL SELECT midnight + interval '13 hours 30 minutes' + r1 * interval '1 minute', 'carol', 'seat.refused', NULL, NULL, 0 FROM jitter WHERE dow = 1
    UNION ALL SELECT midnight + interval '13 hours 32 minutes' + r1 * interval '1 minute', 'carol', 'seat.refused', NULL, NULL, 0 FROM jitter WHERE dow = 1
    UNION ALL SELECT midnight + interval '15 hours' + f2 * interval '1 minute', 'frank', 'seat.released', 'f', NULL, 0 FROM jitter
    UNION ALL SELECT midnight + interval '16 hours' + e2 * interval '1 minute', 'erin', 'seat.released', 'e', NULL, 0 FROM jitter
    UNION ALL SELECT midnight + interval '17 hours 30 minutes' + d2 * interval '1 minute', 'dave', 'seat.released', 'd', NULL, 0 FROM jitter
)
INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, after, event_seq, retention_days)
SELECT at, 'demo', 'remote-support', agent, action, agent,
       jsonb_strip_nulls(jsonb_build_object('lease_id', CASE WHEN lease IS NULL THEN NULL ELSE 'ls_demo_' || lease || '_' || to_char(at, 'YYYYMMDD') END, 'in_use', in_use)),
       (extract(epoch FROM at) * 1000000)::bigint + n, lb_event_retention_days('demo')
FROM events
ORDER BY at, n
ON CONFLICT (account_id, product_code, event_seq, occurred_at, retention_days) WHERE event_seq IS NOT NULL DO NOTHING;

-- The same days in the usage history (peaks, refusals, the four agents), without touching days the broker has counted.
INSERT INTO usage_daily (account_id, product_code, day, peak_concurrent, refused, distinct_agents)
SELECT 'demo', 'remote-support', d::date, 3, CASE WHEN extract(isodow FROM d) = 1 THEN 2 ELSE 0 END, 4
FROM generate_series(current_date - 28, current_date - 1, interval '1 day') AS d
WHERE extract(isodow FROM d) < 6
ON CONFLICT (account_id, product_code, day) DO NOTHING;
