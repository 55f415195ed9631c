import GRDB

/// The catalog's migrations. Append new migrations; never edit a shipped one.
enum CatalogSchema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: jobs, manifests, destinations, settings, restores, audit, alerts") { db in
            try db.create(table: "backup_job") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("uuid", .text).notNull().unique()
                t.column("kind", .text).notNull().indexed()
                t.column("trigger", .text).notNull()
                t.column("status", .text).notNull().indexed()
                t.column("started_at", .datetime).notNull().indexed()
                t.column("finished_at", .datetime)
                t.column("size", .integer)
                t.column("sha256", .text)
                t.column("path", .text)
                t.column("parent_id", .integer).references("backup_job")
                t.column("error", .text)
                t.column("error_detail", .text)
                t.column("user_id", .text)
                t.column("station_id", .text)
                t.column("pid", .integer)
                t.column("snapshot_started_at", .datetime)
                t.column("snapshot_finished_at", .datetime)
                t.column("image_sha256", .text)
                t.column("integrity_check", .text)
                t.column("integrity_checked_at", .datetime)
                t.column("deleted_at", .datetime)
                t.column("deleted_by", .text)
            }
            try db.create(table: "backup_manifest") { t in
                t.primaryKey("job_id", .integer).references("backup_job", onDelete: .cascade)
                t.column("format", .text).notNull()
                t.column("entry_count", .integer).notNull()
                t.column("manifest_json", .text).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "backup_dest_object") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("job_id", .integer).notNull().references("backup_job").indexed()
                t.column("destination", .text).notNull()
                t.column("remote_id", .text)
                t.column("status", .text).notNull()
                t.column("size", .integer)
                t.column("md5", .text)
                t.column("created_at", .datetime).notNull()
                t.column("verified_at", .datetime)
                t.column("deleted_at", .datetime)
                t.column("error", .text)
            }
            try db.create(table: "backup_settings") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
                t.column("updated_at", .datetime).notNull()
            }
            try db.create(table: "restore_job") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("source_job_id", .integer).references("backup_job")
                t.column("source_backup_id", .text)
                t.column("source_path", .text).notNull()
                t.column("target_path", .text).notNull()
                t.column("status", .text).notNull()
                t.column("started_at", .datetime).notNull()
                t.column("finished_at", .datetime)
                t.column("pre_restore_path", .text)
                t.column("restored_image_sha256", .text)
                t.column("error", .text)
                t.column("error_detail", .text)
                t.column("user_id", .text)
                t.column("station_id", .text)
                t.column("pid", .integer)
            }
            try db.create(table: "audit_log") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("at", .datetime).notNull().indexed()
                t.column("user_id", .text)
                t.column("station_id", .text)
                t.column("client", .text)
                t.column("action", .text).notNull()
                t.column("target", .text)
                t.column("outcome", .text).notNull()
                t.column("detail", .text)
            }
            try db.create(table: "alert") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("severity", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("message", .text).notNull()
                t.column("detail", .text)
                t.column("created_at", .datetime).notNull()
                t.column("last_seen_at", .datetime).notNull()
                t.column("count", .integer).notNull().defaults(to: 1)
                t.column("acknowledged_at", .datetime)
            }
        }
        m.registerMigration("v2: alert webhook delivery") { db in
            try db.alter(table: "alert") { t in t.add(column: "notified_at", .datetime) }
        }
        m.registerMigration("v3: backup_manifest.manifest_json is the last column") { db in
            // A file backup writes its manifest (42 MB at 200,000 files) into a zeroblob with incremental
            // blob I/O (`Catalog.complete(_:format:…)`). SQLite leaves a zeroblob unexpanded only when no
            // column after it holds data; with created_at after it, setting it cost twice its size in memory.
            try db.create(table: "backup_manifest_v3") { t in
                t.primaryKey("job_id", .integer).references("backup_job", onDelete: .cascade)
                t.column("format", .text).notNull()
                t.column("entry_count", .integer).notNull()
                t.column("created_at", .datetime).notNull()
                t.column("manifest_json", .text).notNull()
            }
            try db.execute(sql: """
                INSERT INTO backup_manifest_v3 (job_id, format, entry_count, created_at, manifest_json)
                SELECT job_id, format, entry_count, created_at, manifest_json FROM backup_manifest
                """)
            try db.drop(table: "backup_manifest")
            try db.rename(table: "backup_manifest_v3", to: "backup_manifest")
        }
        m.registerMigration("v4: destinations, and off-site copies with a checksum of any algorithm") { db in
            // The destinations a backup is copied to (Google Drive, later S3), and which kinds each takes.
            try db.create(table: "destination") { t in
                t.primaryKey("name", .text)
                t.column("kinds", .text).notNull()
                t.column("enabled", .boolean).notNull().defaults(to: true)
                t.column("disabled_reason", .text)
                t.column("created_at", .datetime).notNull()
            }
            // `md5` was Drive's word; S3 answers with ETags and a local copy with SHA-256.
            try db.alter(table: "backup_dest_object") { t in
                t.add(column: "checksum_algorithm", .text)
                t.add(column: "checksum", .text)
                t.add(column: "attempts", .integer).notNull().defaults(to: 0)
                t.add(column: "last_attempt_at", .datetime)
                t.add(column: "uploaded_at", .datetime)
                t.add(column: "upload_session", .text)
            }
            try db.execute(sql: "UPDATE backup_dest_object SET checksum_algorithm = 'md5', checksum = md5 WHERE md5 IS NOT NULL")
            try db.alter(table: "backup_dest_object") { t in t.drop(column: "md5") }
            try db.create(index: "backup_dest_object_job_destination", on: "backup_dest_object", columns: ["job_id", "destination"], unique: true)
        }
        m.registerMigration("v5: job logs") { db in
            // Each job's structured log (R9.6), kept across restarts: capped per job, pruned by age
            // (`Catalog+JobLogs.swift`). `omitted` > 0 marks the one line that counts the lines not kept.
            try db.create(table: "job_log") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("owner", .text).notNull()
                t.column("job_id", .integer).notNull()
                t.column("at", .datetime).notNull().indexed()
                t.column("level", .text).notNull()
                t.column("message", .text).notNull()
                t.column("phase", .text)
                t.column("bytes_done", .integer)
                t.column("bytes_total", .integer)
                t.column("omitted", .integer).notNull().defaults(to: 0)
            }
            try db.create(index: "job_log_owner_job", on: "job_log", columns: ["owner", "job_id", "id"])
            // The dashboard's overview (under 50 ms p99 at 10,000 backups): the newest backup of a kind and
            // status is one index seek instead of a sort of every row of that status, and the archives' total
            // size is read from the index alone.
            try db.create(index: "backup_job_kind_status_started", on: "backup_job", columns: ["kind", "status", "started_at", "id"])
            try db.create(index: "backup_job_status_size", on: "backup_job", columns: ["status", "size"])
        }
        return m
    }
}
