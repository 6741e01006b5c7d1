"""Versioned schema of the store. Append a new migration; never edit an applied one."""

from __future__ import annotations

from fimiwatch.ingest.normalise import text_key_sql

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "canonical tables: sources, watchlist, ingest log, items, accounts, mentions, "
        "findings, quarantine",
        """
        CREATE TABLE sources (
            source VARCHAR PRIMARY KEY,
            name VARCHAR,
            domain VARCHAR,
            platform VARCHAR,
            country VARCHAR,
            language VARCHAR,
            affiliation VARCHAR NOT NULL DEFAULT 'unknown',
            owner_state VARCHAR,
            notes VARCHAR,
            loaded_from VARCHAR
        );
        CREATE TABLE watchlist (
            kind VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            aliases VARCHAR[],
            country VARCHAR,
            role VARCHAR,
            domains VARCHAR[],
            notes VARCHAR,
            loaded_from VARCHAR,
            PRIMARY KEY (kind, name)
        );
        CREATE SEQUENCE ingest_id_seq START 1;
        CREATE TABLE ingest_log (
            ingest_id BIGINT PRIMARY KEY,
            input VARCHAR NOT NULL,
            sha256 VARCHAR,
            format VARCHAR NOT NULL,
            source_override VARCHAR,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ NOT NULL,
            records BIGINT NOT NULL,
            added BIGINT NOT NULL,
            duplicates BIGINT NOT NULL,
            rejected BIGINT NOT NULL
        );
        CREATE TABLE items (
            id VARCHAR NOT NULL,
            source VARCHAR,
            platform VARCHAR NOT NULL,
            published_at TIMESTAMPTZ,
            text VARCHAR,
            title VARCHAR,
            account_id VARCHAR,
            account_name VARCHAR,
            url VARCHAR,
            lang VARCHAR,
            lang_detected BOOLEAN NOT NULL DEFAULT false,
            links VARCHAR[],
            hashtags VARCHAR[],
            mentions VARCHAR[],
            repost_of VARCHAR,
            reply_to VARCHAR,
            extra JSON,
            content_hash VARCHAR NOT NULL,
            ingest_id BIGINT NOT NULL,
            line BIGINT
        );
        CREATE TABLE accounts (
            platform VARCHAR NOT NULL,
            account_id VARCHAR NOT NULL,
            name VARCHAR,
            source VARCHAR,
            first_seen TIMESTAMPTZ,
            last_seen TIMESTAMPTZ,
            items BIGINT NOT NULL,
            PRIMARY KEY (platform, account_id)
        );
        CREATE TABLE mentions (
            item_id VARCHAR NOT NULL,
            item_source VARCHAR,
            kind VARCHAR NOT NULL,
            entity VARCHAR NOT NULL,
            matched VARCHAR,
            start_char INTEGER,
            end_char INTEGER,
            producer VARCHAR NOT NULL
        );
        CREATE TABLE findings (
            id VARCHAR PRIMARY KEY,
            type VARCHAR NOT NULL,
            detector VARCHAR NOT NULL,
            title VARCHAR NOT NULL,
            summary VARCHAR NOT NULL,
            score DOUBLE NOT NULL,
            severity VARCHAR NOT NULL,
            first_seen TIMESTAMPTZ,
            last_seen TIMESTAMPTZ,
            item_ids VARCHAR[] NOT NULL,
            account_ids VARCHAR[] NOT NULL,
            source_ids VARCHAR[] NOT NULL,
            targets VARCHAR[] NOT NULL,
            actors VARCHAR[] NOT NULL,
            disarm VARCHAR[] NOT NULL,
            attack VARCHAR[] NOT NULL,
            evidence JSON NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE quarantine (
            ingest_id BIGINT NOT NULL,
            input VARCHAR NOT NULL,
            line BIGINT,
            reason VARCHAR NOT NULL,
            record VARCHAR
        );
        """,
    ),
    (
        2,
        "knowledge base: actors, aliases, techniques (ATT&CK, DISARM), incidents, build info",
        """
        CREATE TABLE kb_actors (
            actor_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            country VARCHAR,
            sponsor VARCHAR,
            attack_id VARCHAR,
            description VARCHAR,
            techniques VARCHAR[],
            disarm VARCHAR[],
            refs VARCHAR[],
            origins VARCHAR[],
            parent VARCHAR
        );
        CREATE TABLE kb_aliases (
            alias VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            actor_id VARCHAR NOT NULL,
            origin VARCHAR,
            PRIMARY KEY (key, actor_id)
        );
        CREATE TABLE kb_techniques (
            technique_id VARCHAR PRIMARY KEY,
            framework VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            tactics VARCHAR[],
            description VARCHAR,
            url VARCHAR
        );
        CREATE TABLE kb_incidents (
            incident_id VARCHAR PRIMARY KEY,
            title VARCHAR NOT NULL,
            date_start DATE,
            date_end DATE,
            target_countries VARCHAR[],
            actors VARCHAR[],
            attribution VARCHAR NOT NULL,
            attributed_by VARCHAR,
            techniques VARCHAR[],
            summary VARCHAR,
            refs VARCHAR[]
        );
        CREATE TABLE kb_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
        """,
    ),
    (
        3,
        "mentions linking progress: per ingest, the pattern set its items were linked with",
        """
        CREATE TABLE mentions_linked (
            ingest_id BIGINT PRIMARY KEY,
            patterns VARCHAR NOT NULL,
            linked_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        4,
        "items.text_key: hash of the text as co-post compares it, computed once at ingest",
        f"""
        ALTER TABLE items ADD COLUMN text_key UBIGINT;
        -- a table rewrite, which streams; an UPDATE of every row would hold them all in memory
        ALTER TABLE items ALTER text_key TYPE UBIGINT
            USING (CASE WHEN {text_key_sql()} <> '' THEN hash({text_key_sql()}) END);
        """,
    ),
    (
        5,
        "embedding cache: one vector per (model, MD5 of the embedded text)",
        """
        CREATE TABLE embedding_cache (
            model VARCHAR NOT NULL,
            text_hash UHUGEINT NOT NULL,
            vector FLOAT[] NOT NULL,
            PRIMARY KEY (model, text_hash)
        );
        """,
    ),
    (
        6,
        "narratives: analysts' definitions (example claims) and the items each run assigns",
        """
        CREATE TABLE narrative_claims (
            narrative VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            claim VARCHAR NOT NULL,
            lang VARCHAR,
            threshold DOUBLE,
            keywords VARCHAR[],
            notes VARCHAR,
            loaded_from VARCHAR,
            PRIMARY KEY (narrative, claim)
        );
        CREATE TABLE narrative_items (
            narrative VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            item_id VARCHAR NOT NULL,
            similarity DOUBLE NOT NULL,
            PRIMARY KEY (narrative, item_id)
        );
        """,
    ),
    (
        7,
        "knowledge-base indicators (domains, URLs, mail addresses, file hashes) from STIX imports",
        """
        CREATE TABLE kb_indicators (
            kind VARCHAR NOT NULL,
            value VARCHAR NOT NULL,
            indicator_id VARCHAR NOT NULL,
            name VARCHAR,
            actor_id VARCHAR,
            PRIMARY KEY (kind, value, indicator_id)
        );
        """,
    ),
    (
        8,
        "web users: API tokens (stored as SHA-256 hashes) and roles",
        """
        CREATE TABLE users (
            name VARCHAR PRIMARY KEY,
            role VARCHAR NOT NULL,
            token_sha256 VARCHAR NOT NULL UNIQUE,
            created_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        9,
        "analysts' workflow (status, TLP, notes, audit log) and findings' facets for filtering",
        """
        CREATE TABLE finding_status (
            finding_id VARCHAR PRIMARY KEY,
            status VARCHAR NOT NULL,
            tlp VARCHAR,
            updated_by VARCHAR NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE SEQUENCE finding_note_ids START 1;
        CREATE TABLE finding_notes (
            note_id BIGINT PRIMARY KEY DEFAULT nextval('finding_note_ids'),
            finding_id VARCHAR NOT NULL,
            author VARCHAR NOT NULL,
            text VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE SEQUENCE audit_ids START 1;
        CREATE TABLE audit_log (
            audit_id BIGINT PRIMARY KEY DEFAULT nextval('audit_ids'),
            occurred_at TIMESTAMPTZ NOT NULL,
            user_name VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            finding_id VARCHAR,
            detail VARCHAR
        );
        CREATE TABLE finding_facets (
            finding_id VARCHAR PRIMARY KEY,
            langs VARCHAR[] NOT NULL,
            countries VARCHAR[] NOT NULL
        );
        """,
    ),
    (
        10,
        "alerts: rules (what to match, where to send) and one delivery per rule and finding",
        """
        CREATE TABLE alert_rules (
            name VARCHAR PRIMARY KEY,
            finding_type VARCHAR,
            min_severity VARCHAR,
            target VARCHAR,
            actor VARCHAR,
            channel VARCHAR NOT NULL,
            destination VARCHAR NOT NULL,
            enabled BOOLEAN NOT NULL DEFAULT true,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE alert_deliveries (
            rule VARCHAR NOT NULL,
            finding_id VARCHAR NOT NULL,
            state VARCHAR NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TIMESTAMPTZ,
            last_error VARCHAR,
            last_attempt_at TIMESTAMPTZ,
            created_at TIMESTAMPTZ NOT NULL,
            delivered_at TIMESTAMPTZ,
            PRIMARY KEY (rule, finding_id)
        );
        """,
    ),
    (
        11,
        "watch: watched sources, their poll state, fetched articles, folder files seen",
        """
        CREATE TABLE watch_sources (
            name VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            location VARCHAR NOT NULL UNIQUE,
            every_seconds DOUBLE NOT NULL,
            source VARCHAR,
            match VARCHAR,
            format VARCHAR NOT NULL DEFAULT 'auto',
            added_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE watch_state (
            location VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            etag VARCHAR,
            last_modified VARCHAR,
            body_sha256 VARCHAR,
            next_due TIMESTAMPTZ,
            failures INTEGER NOT NULL DEFAULT 0,
            last_error VARCHAR,
            last_error_at TIMESTAMPTZ,
            last_ok TIMESTAMPTZ,
            last_polled TIMESTAMPTZ
        );
        CREATE SEQUENCE watch_article_seq START 1;
        CREATE TABLE watch_articles (
            url VARCHAR PRIMARY KEY,
            location VARCHAR NOT NULL,
            seq BIGINT NOT NULL,
            state VARCHAR NOT NULL,
            title VARCHAR,
            published VARCHAR,
            queued_at TIMESTAMPTZ NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_attempt_at TIMESTAMPTZ,
            last_error VARCHAR,
            ingest_id BIGINT,
            done_at TIMESTAMPTZ
        );
        CREATE TABLE watch_files (
            path VARCHAR PRIMARY KEY,
            location VARCHAR NOT NULL,
            seen_size BIGINT,
            seen_mtime_ns BIGINT,
            size BIGINT,
            mtime_ns BIGINT,
            sha256 VARCHAR,
            ingest_id BIGINT,
            ingested_at TIMESTAMPTZ,
            error VARCHAR
        );
        CREATE TABLE watch_progress (name VARCHAR PRIMARY KEY, value BIGINT NOT NULL);
        """,
    ),
    (
        12,
        "incremental detection: per detector, the last ingest its findings cover and its inputs",
        """
        CREATE TABLE detector_state (
            detector VARCHAR PRIMARY KEY,
            ingest_id BIGINT NOT NULL,
            fingerprint VARCHAR NOT NULL,
            mode VARCHAR NOT NULL,
            ran_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        13,
        "accounts without a primary-key index: the ingest keeps them unique itself, and "
        "maintaining the index cost more than the rest of the accounts update",
        """
        CREATE TABLE accounts_unindexed (
            platform VARCHAR NOT NULL,
            account_id VARCHAR NOT NULL,
            name VARCHAR,
            source VARCHAR,
            first_seen TIMESTAMPTZ,
            last_seen TIMESTAMPTZ,
            items BIGINT NOT NULL
        );
        INSERT INTO accounts_unindexed SELECT * FROM accounts;
        DROP TABLE accounts;
        ALTER TABLE accounts_unindexed RENAME TO accounts;
        """,
    ),
)
