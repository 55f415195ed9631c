import GRDB

/// The statements of one POS transaction, run inside the simulator's BEGIN IMMEDIATE … COMMIT.
///
/// Nothing is cached between transactions: another process may replace the whole database
/// (a restore through the online backup API), after which ids can go backwards. Every
/// transaction therefore reads what it needs, and new rows get their ids from SQLite.
struct StoreTransactions {
    let db: Database

    /// A register sale: invoice, 1–6 lines, stock decrements and movements, payment, and the
    /// customer's running totals. Returns the new invoice id.
    func sale(_ rng: inout SplitMix64, now: String) throws -> Int64 {
        guard let maxProduct = try Int.fetchOne(db.cachedStatement(sql: "SELECT max(id) FROM products")), maxProduct > 0 else {
            throw DemoStoreError.notAStore("the database has no products; seed it first")
        }
        let stations = try Int.fetchAll(db.cachedStatement(sql: "SELECT id FROM stations WHERE code GLOB 'REG-*' AND active"))
        let users = try Int.fetchAll(db.cachedStatement(sql: "SELECT id FROM users WHERE active AND role <> 'stock'"))
        guard !stations.isEmpty, !users.isEmpty else { throw DemoStoreError.notAStore("the database has no registers or cashiers") }
        let station = rng.pick(stations), user = rng.pick(users)

        var customer: (id: Int64, taxExempt: Bool, hasAccount: Bool)?
        if rng.chance(0.45), let maxCustomer = try Int.fetchOne(db.cachedStatement(sql: "SELECT max(id) FROM customers")),
           let row = try Row.fetchOne(
               db.cachedStatement(sql: "SELECT id, tax_exempt, credit_limit_cents > 0 FROM customers WHERE id >= ? ORDER BY id LIMIT 1"),
               arguments: [rng.int(in: 1...maxCustomer)]) {
            customer = (row[0], row[1], row[2])
        }

        struct Line { var product: Int64; var sku: String; var name: String; var qty: Int; var unit: Int; var tax: Int; var total: Int }
        var lines: [Line] = []
        let productQuery = try db.cachedStatement(sql: """
            SELECT id, sku, name, price_cents, taxable FROM products WHERE id >= ? AND active ORDER BY id LIMIT 1
            """)
        for _ in 0..<(1 + rng.weightedIndex([35, 25, 17, 11, 7, 5])) {
            guard let row = try Row.fetchOne(productQuery, arguments: [rng.int(in: 1...maxProduct)]) else { continue }
            let qty = rng.chance(0.6) ? 1 : rng.int(in: 2...4)
            let unit: Int = row[3]
            let total = qty * unit
            let taxable: Bool = row[4]
            lines.append(Line(product: row[0], sku: row[1], name: row[2], qty: qty, unit: unit,
                              tax: taxable && customer?.taxExempt != true ? SalesHistoryWriter.tax(total) : 0, total: total))
        }
        if lines.isEmpty, let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, sku, name, price_cents FROM products ORDER BY id LIMIT 1")) {
            lines.append(Line(product: row[0], sku: row[1], name: row[2], qty: 1, unit: row[3], tax: SalesHistoryWriter.tax(row[3]), total: row[3]))
        }
        let subtotal = lines.reduce(0) { $0 + $1.total }, tax = lines.reduce(0) { $0 + $1.tax }
        let onAccount = customer?.hasAccount == true && rng.chance(0.5)

        try db.cachedStatement(sql: """
            INSERT INTO invoices (receipt_code, station_id, user_id, customer_id, status, subtotal_cents, tax_cents, total_cents, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [SalesHistoryWriter.receiptCode(&rng), station, user, customer?.id,
                                     onAccount ? "account" : "paid", subtotal, tax, subtotal + tax, now])
        let invoice = db.lastInsertedRowID

        let insertLine = try db.cachedStatement(sql: """
            INSERT INTO invoice_lines (invoice_id, line_no, product_id, sku, description, qty, unit_price_cents, discount_cents,
                tax_cents, line_total_cents) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
            """)
        let decrement = try db.cachedStatement(sql: "UPDATE inventory SET on_hand = on_hand - ?, updated_at = ? WHERE product_id = ?")
        let movement = try db.cachedStatement(sql: """
            INSERT INTO inventory_movements (product_id, qty_delta, reason, ref_table, ref_id, user_id, created_at)
            VALUES (?, ?, 'sale', 'invoices', ?, ?, ?)
            """)
        for (index, line) in lines.enumerated() {
            try insertLine.execute(arguments: [invoice, index + 1, line.product, line.sku, line.name, line.qty, line.unit, line.tax, line.total])
            try decrement.execute(arguments: [line.qty, now, line.product])
            try movement.execute(arguments: [line.product, -line.qty, invoice, user, now])
        }

        let method = onAccount ? "account" : ["card", "cash", "check"][rng.weightedIndex([68, 27, 5])]
        try db.cachedStatement(sql: """
            INSERT INTO payments (invoice_id, method, amount_cents, card_brand, card_last4, auth_code, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                invoice, method, subtotal + tax,
                method == "card" ? rng.pick(["Visa", "Visa", "Mastercard", "Amex", "Discover"]) : nil,
                method == "card" ? String(rng.int(in: 0...9999)).leftPadded(4) : nil,
                method == "card" ? String(rng.int(in: 0...999_999)).leftPadded(6) : nil, now,
            ])

        if let customer {
            try db.cachedStatement(sql: """
                UPDATE customers SET lifetime_spend_cents = lifetime_spend_cents + ?, balance_cents = balance_cents + ?,
                    last_purchase_at = ?, updated_at = ? WHERE id = ?
                """).execute(arguments: [subtotal + tax, onAccount ? subtotal + tax : 0, now, now, customer.id])
        }
        return invoice
    }

    /// A manager reprices a few products (new shelf tags), leaving an audit trail.
    func priceChange(_ rng: inout SplitMix64, now: String) throws {
        guard let maxProduct = try Int.fetchOne(db.cachedStatement(sql: "SELECT max(id) FROM products")), maxProduct > 0 else { return }
        let manager = try Int.fetchOne(db.cachedStatement(sql: "SELECT id FROM users WHERE role IN ('owner', 'manager') ORDER BY id LIMIT 1"))
        for _ in 0..<rng.int(in: 1...5) {
            guard let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT id, price_cents FROM products WHERE id >= ? ORDER BY id LIMIT 1"),
                arguments: [rng.int(in: 1...maxProduct)]) else { continue }
            let id: Int64 = row[0], old: Int = row[1]
            let new = Catalog.retail(Double(old) * (1 + Double(rng.int(in: -3...8)) / 100))
            try db.cachedStatement(sql: "UPDATE products SET price_cents = ?, updated_at = ? WHERE id = ?").execute(arguments: [new, now, id])
            try db.cachedStatement(sql: """
                INSERT INTO audit_trail (at, user_id, station_id, action, entity, entity_id, detail)
                VALUES (?, ?, (SELECT id FROM stations WHERE code = 'OFFICE'), 'price_change', 'products', ?, ?)
                """).execute(arguments: [now, manager, id, "price_cents \(old) -> \(new)"])
        }
    }

    /// A vendor bill is keyed in; sometimes the oldest open bill is paid at the same time.
    /// Returns whether a payment was made.
    func apBill(_ rng: inout SplitMix64, now: String, today: String, due: String) throws -> Bool {
        guard let maxVendor = try Int.fetchOne(db.cachedStatement(sql: "SELECT max(id) FROM vendors")), maxVendor > 0 else { return false }
        let vendor = rng.int(in: 1...maxVendor)
        try db.cachedStatement(sql: """
            INSERT INTO ap_bills (vendor_id, bill_no, bill_date, due_date, amount_cents, status, created_at)
            VALUES (?, ?, ?, ?, ?, 'open', ?)
            """).execute(arguments: [vendor, "INV-\(rng.int(in: 100_000...999_999))", today, due, rng.int(in: 5_000...900_000), now])
        guard rng.chance(0.5),
              let bill = try Row.fetchOne(db.cachedStatement(sql: """
                  SELECT id, amount_cents FROM ap_bills WHERE status = 'open' ORDER BY due_date, id LIMIT 1
                  """))
        else { return false }
        let manager = try Int.fetchOne(db.cachedStatement(sql: "SELECT id FROM users WHERE role IN ('owner', 'manager') ORDER BY id LIMIT 1"))
        let ach = rng.chance(0.6)
        try db.cachedStatement(sql: """
            INSERT INTO ap_payments (bill_id, amount_cents, method, reference, user_id, paid_at) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [bill[0] as Int64, bill[1] as Int, ach ? "ach" : "check",
                                     ach ? "ACH \(rng.int(in: 10_000_000...99_999_999))" : "CHK \(rng.int(in: 5001...9999))", manager, now])
        try db.cachedStatement(sql: "UPDATE ap_bills SET status = 'paid' WHERE id = ?").execute(arguments: [bill[0] as Int64])
        return true
    }
}
