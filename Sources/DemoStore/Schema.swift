/// The POS database schema, modelled on a small retail POS: integer primary keys, declared
/// foreign keys, text timestamps in local time, money in integer cents.
///
/// Two log tables (`inventory_movements`, `audit_trail`) deliberately have no primary key, as
/// many real POS schemas do: SQLite's session extension silently skips such tables, and the
/// backup tool must not.
enum Schema {
    static let schemaVersion = 14

    static let tables = """
        CREATE TABLE stations (
            id          INTEGER PRIMARY KEY,
            code        TEXT NOT NULL UNIQUE,
            name        TEXT NOT NULL,
            location    TEXT NOT NULL,
            ip_address  TEXT,
            active      INTEGER NOT NULL DEFAULT 1,
            created_at  TEXT NOT NULL
        );
        CREATE TABLE users (
            id           INTEGER PRIMARY KEY,
            username     TEXT NOT NULL UNIQUE,
            full_name    TEXT NOT NULL,
            role         TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'cashier', 'stock')),
            permissions  TEXT NOT NULL,
            pin_hash     TEXT NOT NULL,
            active       INTEGER NOT NULL DEFAULT 1,
            created_at   TEXT NOT NULL
        );
        CREATE TABLE customers (
            id                    INTEGER PRIMARY KEY,
            account_no            TEXT NOT NULL UNIQUE,
            first_name            TEXT NOT NULL,
            last_name             TEXT NOT NULL,
            company               TEXT,
            email                 TEXT,
            phone                 TEXT,
            street                TEXT,
            city                  TEXT,
            state                 TEXT,
            zip                   TEXT,
            tax_exempt            INTEGER NOT NULL DEFAULT 0,
            credit_limit_cents    INTEGER NOT NULL DEFAULT 0,
            balance_cents         INTEGER NOT NULL DEFAULT 0,
            lifetime_spend_cents  INTEGER NOT NULL DEFAULT 0,
            last_purchase_at      TEXT,
            notes                 TEXT,
            created_at            TEXT NOT NULL,
            updated_at            TEXT NOT NULL
        );
        CREATE TABLE vendors (
            id            INTEGER PRIMARY KEY,
            name          TEXT NOT NULL UNIQUE,
            contact_name  TEXT,
            email         TEXT,
            phone         TEXT,
            street        TEXT,
            city          TEXT,
            state         TEXT,
            zip           TEXT,
            account_no    TEXT,
            terms_days    INTEGER NOT NULL DEFAULT 30,
            created_at    TEXT NOT NULL
        );
        CREATE TABLE products (
            id           INTEGER PRIMARY KEY,
            sku          TEXT NOT NULL UNIQUE,
            upc          TEXT,
            name         TEXT NOT NULL,
            category     TEXT NOT NULL,
            subcategory  TEXT NOT NULL,
            vendor_id    INTEGER REFERENCES vendors(id),
            unit         TEXT NOT NULL,
            cost_cents   INTEGER NOT NULL,
            price_cents  INTEGER NOT NULL,
            taxable      INTEGER NOT NULL DEFAULT 1,
            image_path   TEXT,
            active       INTEGER NOT NULL DEFAULT 1,
            created_at   TEXT NOT NULL,
            updated_at   TEXT NOT NULL
        );
        CREATE TABLE inventory (
            id               INTEGER PRIMARY KEY,
            product_id       INTEGER NOT NULL UNIQUE REFERENCES products(id),
            on_hand          INTEGER NOT NULL,
            reorder_point    INTEGER NOT NULL,
            reorder_qty      INTEGER NOT NULL,
            bin_location     TEXT NOT NULL,
            last_counted_at  TEXT,
            updated_at       TEXT NOT NULL
        );
        CREATE TABLE inventory_movements (
            product_id  INTEGER NOT NULL REFERENCES products(id),
            qty_delta   INTEGER NOT NULL,
            reason      TEXT NOT NULL,
            ref_table   TEXT,
            ref_id      INTEGER,
            user_id     INTEGER REFERENCES users(id),
            created_at  TEXT NOT NULL
        );
        CREATE TABLE invoices (
            id              INTEGER PRIMARY KEY,
            receipt_code    TEXT NOT NULL,
            station_id      INTEGER NOT NULL REFERENCES stations(id),
            user_id         INTEGER NOT NULL REFERENCES users(id),
            customer_id     INTEGER REFERENCES customers(id),
            status          TEXT NOT NULL CHECK (status IN ('paid', 'account', 'void')),
            subtotal_cents  INTEGER NOT NULL,
            tax_cents       INTEGER NOT NULL,
            total_cents     INTEGER NOT NULL,
            notes           TEXT,
            created_at      TEXT NOT NULL
        );
        CREATE TABLE invoice_lines (
            id                INTEGER PRIMARY KEY,
            invoice_id        INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
            line_no           INTEGER NOT NULL,
            product_id        INTEGER NOT NULL REFERENCES products(id),
            sku               TEXT NOT NULL,
            description       TEXT NOT NULL,
            qty               INTEGER NOT NULL,
            unit_price_cents  INTEGER NOT NULL,
            discount_cents    INTEGER NOT NULL DEFAULT 0,
            tax_cents         INTEGER NOT NULL,
            line_total_cents  INTEGER NOT NULL
        );
        CREATE TABLE payments (
            id            INTEGER PRIMARY KEY,
            invoice_id    INTEGER NOT NULL REFERENCES invoices(id),
            method        TEXT NOT NULL CHECK (method IN ('cash', 'card', 'check', 'account')),
            amount_cents  INTEGER NOT NULL,
            card_brand    TEXT,
            card_last4    TEXT,
            auth_code     TEXT,
            created_at    TEXT NOT NULL
        );
        CREATE TABLE ap_bills (
            id            INTEGER PRIMARY KEY,
            vendor_id     INTEGER NOT NULL REFERENCES vendors(id),
            bill_no       TEXT NOT NULL,
            bill_date     TEXT NOT NULL,
            due_date      TEXT NOT NULL,
            amount_cents  INTEGER NOT NULL,
            status        TEXT NOT NULL CHECK (status IN ('open', 'paid')),
            memo          TEXT,
            created_at    TEXT NOT NULL
        );
        CREATE TABLE ap_payments (
            id            INTEGER PRIMARY KEY,
            bill_id       INTEGER NOT NULL REFERENCES ap_bills(id),
            amount_cents  INTEGER NOT NULL,
            method        TEXT NOT NULL CHECK (method IN ('check', 'ach')),
            reference     TEXT,
            user_id       INTEGER REFERENCES users(id),
            paid_at       TEXT NOT NULL
        );
        CREATE TABLE audit_trail (
            at          TEXT NOT NULL,
            user_id     INTEGER REFERENCES users(id),
            station_id  INTEGER REFERENCES stations(id),
            action      TEXT NOT NULL,
            entity      TEXT NOT NULL,
            entity_id   INTEGER,
            detail      TEXT
        );
        """

    /// Indexes whose keys arrive in (nearly) ascending order while seeding: cheap to maintain
    /// row by row, so they are created with the tables.
    static let indexes = """
        CREATE INDEX customers_name ON customers(last_name, first_name);
        CREATE INDEX customers_phone ON customers(phone);
        CREATE INDEX products_category ON products(category, subcategory);
        CREATE INDEX products_vendor ON products(vendor_id);
        CREATE INDEX products_upc ON products(upc);
        CREATE INDEX invoices_created ON invoices(created_at);
        CREATE INDEX invoice_lines_invoice ON invoice_lines(invoice_id);
        CREATE INDEX payments_invoice ON payments(invoice_id);
        CREATE INDEX ap_bills_vendor ON ap_bills(vendor_id, status);
        CREATE INDEX ap_bills_due ON ap_bills(due_date);
        CREATE INDEX ap_payments_bill ON ap_payments(bill_id);
        CREATE INDEX audit_trail_at ON audit_trail(at);
        """

    /// Indexes keyed by product or customer receive their keys in random order; maintaining them
    /// row by row costs more than half of a 1 GB seed, building them afterwards about 5 %.
    static let deferredIndexes = """
        CREATE INDEX inventory_movements_product ON inventory_movements(product_id);
        CREATE INDEX invoices_customer ON invoices(customer_id);
        CREATE INDEX invoice_lines_product ON invoice_lines(product_id);
        """

    /// Size of one entry of a deferred index once built (measured with dbstat: ~10.9 bytes
    /// for an integer key plus rowid), so the seeder can count the index pages before they exist.
    static let deferredIndexBytesPerRow = 11.0

    /// Every table, parents before children.
    static let tableNames = [
        "stations", "users", "customers", "vendors", "products", "inventory", "inventory_movements",
        "invoices", "invoice_lines", "payments", "ap_bills", "ap_payments", "audit_trail",
    ]
}
