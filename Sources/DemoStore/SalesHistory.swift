import Foundation
import GRDB

/// Writes three years of store history, day by day in time order: sales (invoices, lines,
/// payments, stock movements), restocking and the vendor bills it causes, bill payments,
/// price changes and logins.
///
/// The database size is steered while writing: before each day the writer measures the pages
/// used so far (plus those the deferred indexes will take, see `Schema.deferredIndexes`) and
/// spreads the remaining budget over the remaining days, weighted by weekday, season and growth.
/// The page count is deterministic, so the same seed gives the same store.
struct SalesHistoryWriter {
    let db: Database
    let days: ClosedRange<CivilDay>
    let targetPages: Int
    var model: StoreModel
    var rng: SplitMix64

    // Ids of the last rows written, which are also the row counts.
    private var invoiceID = 0, lineID = 0, paymentID = 0, billID = 0, apPaymentID = 0
    private var movements = 0, auditRows = 0
    /// Vendor bills not yet paid: (bill id, due day, amount).
    private var openBills: [(id: Int, due: CivilDay, amount: Int)] = []
    /// Cost of goods received per vendor since its last bill.
    private var unbilled: [Int]

    private let insertInvoice, insertLine, insertPayment, insertMovement, insertAudit: BulkStatement
    private let insertBill, insertAPPayment, markBillPaid, pageCount: BulkStatement

    static let taxRateBasisPoints = 725  // 7.25 %, see config/tax-rates.csv

    init(db: Database, days: ClosedRange<CivilDay>, targetPages: Int, model: StoreModel, rng: SplitMix64) throws {
        self.db = db
        self.days = days
        self.targetPages = targetPages
        self.model = model
        self.rng = rng
        unbilled = Array(repeating: 0, count: Names.vendorNames.count)
        insertInvoice = try BulkStatement(db, """
            INSERT INTO invoices (id, receipt_code, station_id, user_id, customer_id, status, subtotal_cents, tax_cents,
                total_cents, notes, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)
            """)
        insertLine = try BulkStatement(db, """
            INSERT INTO invoice_lines (id, invoice_id, line_no, product_id, sku, description, qty, unit_price_cents,
                discount_cents, tax_cents, line_total_cents) VALUES (?,?,?,?,?,?,?,?,?,?,?)
            """)
        insertPayment = try BulkStatement(db, """
            INSERT INTO payments (id, invoice_id, method, amount_cents, card_brand, card_last4, auth_code, created_at)
            VALUES (?,?,?,?,?,?,?,?)
            """)
        insertMovement = try BulkStatement(db, """
            INSERT INTO inventory_movements (product_id, qty_delta, reason, ref_table, ref_id, user_id, created_at)
            VALUES (?,?,?,?,?,?,?)
            """)
        insertAudit = try BulkStatement(db, """
            INSERT INTO audit_trail (at, user_id, station_id, action, entity, entity_id, detail) VALUES (?,?,?,?,?,?,?)
            """)
        insertBill = try BulkStatement(db, """
            INSERT INTO ap_bills (id, vendor_id, bill_no, bill_date, due_date, amount_cents, status, memo, created_at)
            VALUES (?,?,?,?,?,?,'open',?,?)
            """)
        insertAPPayment = try BulkStatement(db, """
            INSERT INTO ap_payments (id, bill_id, amount_cents, method, reference, user_id, paid_at) VALUES (?,?,?,?,?,?,?)
            """)
        markBillPaid = try BulkStatement(db, "UPDATE ap_bills SET status = 'paid' WHERE id = ?")
        pageCount = try BulkStatement(db, "PRAGMA page_count")
    }

    // MARK: - Pacing the size

    /// Relative sales volume of a day: weekday rhythm, a spring/summer painting season,
    /// steady growth over the three years, closed on Christmas and New Year's Day.
    func weight(_ day: CivilDay) -> Double {
        let (_, month, dayOfMonth) = day.ymd
        if (month == 12 && dayOfMonth == 25) || (month == 1 && dayOfMonth == 1) { return 0 }
        let weekday = [0.55, 0.95, 0.95, 1.0, 1.05, 1.2, 1.35][day.weekday]
        let season = 1 + 0.35 * sin(2 * Double.pi * Double(day.dayOfYear - 80) / 365)
        let progress = Double(day.daysSinceEpoch - days.lowerBound.daysSinceEpoch)
            / Double(max(1, days.upperBound.daysSinceEpoch - days.lowerBound.daysSinceEpoch))
        return weekday * season * (0.85 + 0.3 * progress)
    }

    var counts: [String: Int] {
        ["invoices": invoiceID, "invoice_lines": lineID, "payments": paymentID, "inventory_movements": movements,
         "audit_trail": auditRows, "ap_bills": billID, "ap_payments": apPaymentID]
    }

    /// Pages the deferred indexes will take once built at the end (one entry per row).
    private var deferredIndexPages: Int {
        Int(Double(lineID + movements + invoiceID) * Schema.deferredIndexBytesPerRow / 4096)
    }

    mutating func write() throws {
        let allDays = (days.lowerBound.daysSinceEpoch...days.upperBound.daysSinceEpoch).map(CivilDay.init(daysSinceEpoch:))
        let weights = allDays.map(weight)
        var remainingWeight = weights.reduce(0, +)
        let startPages = try pageCount.int()
        var carry = 0.0
        try db.execute(sql: "BEGIN")
        for (index, day) in allDays.enumerated() {
            let pages = try pageCount.int() + deferredIndexPages
            // Until enough history exists to measure, assume ~1 KB per sale with everything it drags along.
            let pagesPerInvoice = invoiceID >= 400 ? Double(pages - startPages) / Double(invoiceID) : 0.25
            let budget = Double(max(0, targetPages - pages))
            carry += remainingWeight > 0 ? weights[index] * budget / (pagesPerInvoice * remainingWeight) : 0
            remainingWeight -= weights[index]
            let sales = Int(carry)
            carry -= Double(sales)
            try writeDay(day, sales: sales, progress: Double(index) / Double(allDays.count))
        }
        try db.execute(sql: "COMMIT")
    }

    // MARK: - One day

    private mutating func writeDay(_ day: CivilDay, sales: Int, progress: Double) throws {
        let sunday = day.weekday == 0
        let open = (sunday ? 9 : 7) * 3600, close = (sunday ? 17 : 19) * 3600
        let dayOfMonth = day.ymd.day

        if weight(day) > 0 {
            for station in model.stationIDs where station != 4 || !sunday {
                try audit(Timestamp.dateTime(day, secondOfDay: open - rng.int(in: 300...1500)), user: rng.pick(model.cashierIDs),
                          station: station, action: "login", entity: "stations", entityID: station, detail: nil)
            }
        }
        if dayOfMonth == 1 { try writePriceReview(day, at: open - 3600) }
        if day.weekday == 1 { try writeVendorBills(day) }
        try payDueBills(day)

        var times = (0..<sales).map { _ in rng.int(in: open...close) }
        times.sort()
        for second in times {
            try writeSale(Timestamp.dateTime(day, secondOfDay: second), day: day, progress: progress)
        }
        try receiveStock(Timestamp.dateTime(day, secondOfDay: close + 1800))
    }

    private static let noteTexts = [
        "Tint formula on file", "PO# %d", "Job: %d Maple Ave", "Customer will pick up tomorrow", "Price matched competitor ad",
        "Deliver to job site", "Special order - call when in", "Contractor pricing approved by manager",
    ]

    private mutating func writeSale(_ stamp: String, day: CivilDay, progress: Double) throws {
        invoiceID += 1
        let invoice = invoiceID
        let user = rng.chance(0.85) ? rng.pick(model.cashierIDs) : rng.pick(model.managerIDs)
        let station = model.stationIDs[rng.weightedIndex([0.35, 0.3, 0.2, 0.15])]
        let customerIndex = rng.chance(0.45) ? rng.below(model.customers.count) : nil
        let customer = customerIndex.map { model.customers[$0] }
        let contractor = customer?.contractor ?? false
        let taxExempt = customer?.taxExempt ?? false
        let void = rng.chance(0.004)
        let lineCount = min(6, 1 + rng.weightedIndex([35, 25, 17, 11, 7, 5]) + (contractor ? 1 : 0))
        // Prices were a little lower three years ago.
        let priceLevel = 0.9 + 0.1 * progress

        var subtotal = 0, tax = 0
        for lineNo in 1...lineCount {
            // Popularity is skewed: a few products sell far more than the long tail.
            let productIndex = min(model.products.count - 1, Int(Double(model.products.count) * pow(rng.unit(), 1.6)))
            let qty = rng.chance(0.55) ? 1 : rng.int(in: 1...model.products[productIndex].maxQty)
            let unitPrice = Catalog.retail(Double(model.products[productIndex].priceCents) * priceLevel)
            let discount = contractor && rng.chance(0.6) ? qty * unitPrice / 10 : 0
            let lineTotal = qty * unitPrice - discount
            let lineTax = taxExempt ? 0 : Self.tax(lineTotal)
            subtotal += lineTotal
            tax += lineTax
            lineID += 1
            insertLine.bind(1, lineID); insertLine.bind(2, invoice); insertLine.bind(3, lineNo)
            // Field by field: copying the whole CatalogProduct would retain all its strings.
            insertLine.bind(4, productIndex + 1); insertLine.bind(5, model.products[productIndex].sku)
            insertLine.bind(6, model.products[productIndex].name)
            insertLine.bind(7, qty); insertLine.bind(8, unitPrice); insertLine.bind(9, discount)
            insertLine.bind(10, lineTax); insertLine.bind(11, lineTotal)
            try insertLine.run()
            if !void {
                try movement(product: productIndex, delta: -qty, reason: "sale", refTable: "invoices", refID: invoice,
                             user: user, at: stamp)
            }
        }
        let total = subtotal + tax

        let onAccount = !void && (customer?.hasAccount ?? false) && rng.chance(0.5)
        insertInvoice.bind(1, invoice); insertInvoice.bind(2, Self.receiptCode(&rng)); insertInvoice.bind(3, station)
        insertInvoice.bind(4, user); insertInvoice.bind(5, customerIndex.map { $0 + 1 })
        insertInvoice.bind(6, void ? "void" : onAccount ? "account" : "paid")
        insertInvoice.bind(7, subtotal); insertInvoice.bind(8, tax); insertInvoice.bind(9, total)
        insertInvoice.bind(10, rng.chance(0.04)
            ? rng.pick(Self.noteTexts).replacingOccurrences(of: "%d", with: String(rng.int(in: 100...9999))) : nil)
        insertInvoice.bind(11, stamp)
        try insertInvoice.run()

        if void {
            try audit(stamp, user: rng.pick(model.managerIDs), station: station, action: "void", entity: "invoices",
                      entityID: invoice, detail: "Voided by manager: \(rng.pick(["wrong item", "customer changed mind", "duplicate ring"]))")
            return
        }
        try writePayment(invoice: invoice, total: total, onAccount: onAccount, at: stamp)
        if let customerIndex {
            model.customers[customerIndex].lifetimeSpend += total
            model.customers[customerIndex].lastPurchase = stamp
            // Account charges older than a month have been paid off; only the last 30 days are owed.
            if onAccount && day.daysSinceEpoch > days.upperBound.daysSinceEpoch - 30 {
                model.customers[customerIndex].recentAccountCharges += total
            }
        }
    }

    static func tax(_ cents: Int) -> Int { (cents * taxRateBasisPoints + 5000) / 10_000 }

    /// The short code printed under the receipt barcode, e.g. `K7Q2-M9XD` (no 0/O, 1/I).
    static func receiptCode(_ rng: inout SplitMix64) -> String {
        let alphabet: StaticString = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        return String(unsafeUninitializedCapacity: 9) { out in
            for i in 0..<9 {
                out[i] = i == 4 ? UInt8(ascii: "-") : alphabet.utf8Start[rng.below(alphabet.utf8CodeUnitCount)]
            }
            return 9
        }
    }

    private mutating func writePayment(invoice: Int, total: Int, onAccount: Bool, at stamp: String) throws {
        paymentID += 1
        let method = onAccount ? "account" : ["card", "cash", "check"][rng.weightedIndex([68, 27, 5])]
        insertPayment.bind(1, paymentID); insertPayment.bind(2, invoice); insertPayment.bind(3, method)
        insertPayment.bind(4, total)
        if method == "card" {
            insertPayment.bind(5, ["Visa", "Mastercard", "Amex", "Discover"][rng.weightedIndex([52, 30, 12, 6])])
            insertPayment.bind(6, String(rng.int(in: 0...9999)).leftPadded(4))
            insertPayment.bind(7, String(rng.int(in: 0...999_999)).leftPadded(6))
        } else {
            insertPayment.bind(5, nil as String?); insertPayment.bind(6, nil as String?)
            insertPayment.bind(7, method == "check" ? "CHK \(rng.int(in: 1001...9999))" : nil)
        }
        insertPayment.bind(8, stamp)
        try insertPayment.run()
    }

    private mutating func movement(product: Int, delta: Int, reason: String, refTable: String?, refID: Int?, user: Int?, at stamp: String) throws {
        model.onHand[product] += delta
        insertMovement.bind(1, product + 1); insertMovement.bind(2, delta); insertMovement.bind(3, reason)
        insertMovement.bind(4, refTable); insertMovement.bind(5, refID); insertMovement.bind(6, user); insertMovement.bind(7, stamp)
        try insertMovement.run()
        movements += 1
    }

    private mutating func audit(_ stamp: String, user: Int?, station: Int?, action: String, entity: String, entityID: Int?, detail: String?) throws {
        insertAudit.bind(1, stamp); insertAudit.bind(2, user); insertAudit.bind(3, station); insertAudit.bind(4, action)
        insertAudit.bind(5, entity); insertAudit.bind(6, entityID); insertAudit.bind(7, detail)
        try insertAudit.run()
        auditRows += 1
    }

    // MARK: - Back office

    /// Products at or below their reorder point are restocked after closing; the goods are
    /// billed to their vendor on the next Monday.
    private mutating func receiveStock(_ stamp: String) throws {
        for index in model.products.indices where model.onHand[index] <= model.reorderPoint[index] {
            let qty = model.reorderQty[index] + max(0, model.reorderPoint[index] - model.onHand[index])
            try movement(product: index, delta: qty, reason: "receipt", refTable: nil, refID: nil,
                         user: nil, at: stamp)
            unbilled[model.products[index].vendorIndex] += qty * model.products[index].costCents
        }
    }

    private mutating func writeVendorBills(_ day: CivilDay) throws {
        let stamp = Timestamp.dateTime(day, secondOfDay: 10 * 3600)
        for vendor in unbilled.indices where unbilled[vendor] > 0 {
            billID += 1
            let terms = [15, 30, 30, 45, 60][vendor % 5]
            let due = day.adding(days: terms)
            insertBill.bind(1, billID); insertBill.bind(2, vendor + 1)
            insertBill.bind(3, "\(Catalog.slug(Names.vendorNames[vendor]).prefix(3).uppercased())-\(rng.int(in: 100_000...999_999))")
            insertBill.bind(4, Timestamp.date(day)); insertBill.bind(5, Timestamp.date(due))
            insertBill.bind(6, unbilled[vendor])
            insertBill.bind(7, rng.chance(0.2) ? rng.pick(["Freight included", "Backorder shipped", "Promo pricing", "Net \(terms)"]) : nil)
            insertBill.bind(8, stamp)
            try insertBill.run()
            openBills.append((billID, due, unbilled[vendor]))
            unbilled[vendor] = 0
        }
    }

    private mutating func payDueBills(_ day: CivilDay) throws {
        let stamp = Timestamp.dateTime(day, secondOfDay: 11 * 3600)
        var stillOpen: [(id: Int, due: CivilDay, amount: Int)] = []
        for bill in openBills {
            guard bill.due <= day else { stillOpen.append(bill); continue }
            apPaymentID += 1
            let ach = rng.chance(0.6)
            insertAPPayment.bind(1, apPaymentID); insertAPPayment.bind(2, bill.id); insertAPPayment.bind(3, bill.amount)
            insertAPPayment.bind(4, ach ? "ach" : "check")
            insertAPPayment.bind(5, ach ? "ACH \(rng.int(in: 10_000_000...99_999_999))" : "CHK \(rng.int(in: 5001...9999))")
            insertAPPayment.bind(6, model.managerIDs[0]); insertAPPayment.bind(7, stamp)
            try insertAPPayment.run()
            markBillPaid.bind(1, bill.id)
            try markBillPaid.run()
        }
        openBills = stillOpen
    }

    /// Monthly price review: a few products change price (the catalog holds today's prices;
    /// this is the trail the POS would have left).
    private mutating func writePriceReview(_ day: CivilDay, at second: Int) throws {
        let stamp = Timestamp.dateTime(day, secondOfDay: second)
        let changes = max(1, model.products.count / 60)
        for _ in 0..<changes {
            let index = rng.below(model.products.count)
            let old = model.products[index].priceCents
            let new = Catalog.retail(Double(old) * (1 + Double(rng.int(in: -3...8)) / 100))
            try audit(stamp, user: model.managerIDs[0], station: 5, action: "price_change", entity: "products",
                      entityID: index + 1, detail: "price_cents \(old) -> \(new)")
        }
    }

    // MARK: - Closing

    /// Writes the running totals the history accumulated: stock on hand and customer balances.
    func writeFinalState() throws {
        let closing = Timestamp.dateTime(days.upperBound, secondOfDay: 19 * 3600 + 1800)
        let updateInventory = try BulkStatement(db, "UPDATE inventory SET on_hand = ?, updated_at = ?, last_counted_at = ? WHERE id = ?")
        let lastCount = Timestamp.dateTime(days.upperBound.adding(days: -40), secondOfDay: 8 * 3600)
        try db.execute(sql: "BEGIN")
        for index in model.products.indices {
            updateInventory.bind(1, model.onHand[index]); updateInventory.bind(2, closing)
            updateInventory.bind(3, lastCount); updateInventory.bind(4, index + 1)
            try updateInventory.run()
        }
        let updateCustomer = try BulkStatement(db, """
            UPDATE customers SET lifetime_spend_cents = ?, balance_cents = ?, last_purchase_at = ?, updated_at = ? WHERE id = ?
            """)
        for (index, customer) in model.customers.enumerated() where customer.lastPurchase != nil {
            updateCustomer.bind(1, customer.lifetimeSpend); updateCustomer.bind(2, customer.recentAccountCharges)
            updateCustomer.bind(3, customer.lastPurchase); updateCustomer.bind(4, customer.lastPurchase)
            updateCustomer.bind(5, index + 1)
            try updateCustomer.run()
        }
        try db.execute(sql: "COMMIT")
    }
}
