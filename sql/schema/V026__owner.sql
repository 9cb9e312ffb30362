-- Sales reps by name: the owner ids on persons, deals and activities are a system's user ids;
-- this says who they are (file drops give the names today).

-- Grain: one row per owner id per system.
create table core.owner (
    source text not null,
    owner_id text not null,
    name text,
    updated_at timestamptz not null default now(),
    primary key (source, owner_id)
);
