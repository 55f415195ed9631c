import GRDB

/// What the sales history needs to know about the reference rows, kept in memory so the
/// seeder never has to read back what it wrote.
struct StoreModel {
    struct Customer {
        var taxExempt: Bool
        var hasAccount: Bool
        var contractor: Bool
        var lifetimeSpend = 0
        var recentAccountCharges = 0
        var lastPurchase: String?
    }

    var products: [CatalogProduct]
    var onHand: [Int]
    var reorderPoint: [Int]
    var reorderQty: [Int]
    var customers: [Customer]
    var stationIDs: [Int]
    var cashierIDs: [Int]
    var managerIDs: [Int]
}

/// Writes the slowly-changing tables: stations, users, vendors, customers, products, inventory.
struct ReferenceDataWriter {
    let db: Database
    let firstDay: CivilDay
    var counts: RowCounts

    init(db: Database, firstDay: CivilDay, counts: RowCounts) {
        self.db = db
        self.firstDay = firstDay
        self.counts = counts
    }

    /// Scales the reference tables gently with the target size: a 3 MB store has a few hundred
    /// products and customers, a 1 GB store ~13,000 products and ~20,000 customers.
    static func productCount(sizeMB: Int) -> Int { min(15_000, 200 + sizeMB * 12) }
    static func customerCount(sizeMB: Int) -> Int { min(25_000, 150 + sizeMB * 20) }

    mutating func write(sizeMB: Int, images: ImagePlan, rng: inout SplitMix64) throws -> StoreModel {
        let opened = Timestamp.dateTime(firstDay.adding(days: -400), secondOfDay: 9 * 3600)
        let stations = try writeStations(opened)
        let (cashiers, managers) = try writeUsers(opened, &rng)
        try writeVendors(opened, &rng)
        let customers = try writeCustomers(Self.customerCount(sizeMB: sizeMB), &rng)
        let products = Catalog.generate(count: Self.productCount(sizeMB: sizeMB), rng: &rng)
        try writeProducts(products, images: images, opened: opened, &rng)
        var model = StoreModel(
            products: products, onHand: [], reorderPoint: [], reorderQty: [], customers: customers,
            stationIDs: stations, cashierIDs: cashiers, managerIDs: managers)
        try writeInventory(&model, opened: opened, &rng)
        return model
    }

    private mutating func writeStations(_ created: String) throws -> [Int] {
        let rows = [
            ("REG-01", "Register 1", "Front counter"), ("REG-02", "Register 2", "Front counter"),
            ("REG-03", "Paint Desk", "Paint department"), ("REG-04", "Pro Desk", "Contractor counter"),
            ("OFFICE", "Back Office", "Office"),
        ]
        let insert = try BulkStatement(db, "INSERT INTO stations (id, code, name, location, ip_address, created_at) VALUES (?,?,?,?,?,?)")
        for (index, (code, name, location)) in rows.enumerated() {
            insert.bind(1, index + 1); insert.bind(2, code); insert.bind(3, name); insert.bind(4, location)
            insert.bind(5, "192.168.10.\(21 + index)"); insert.bind(6, created)
            try insert.run()
        }
        counts.add("stations", rows.count)
        return [1, 2, 3, 4]  // the registers that ring up sales
    }

    private mutating func writeUsers(_ created: String, _ rng: inout SplitMix64) throws -> (cashiers: [Int], managers: [Int]) {
        let roles: [(String, String)] = [
            ("owner", "MANAGE_SETTINGS,MANAGE_USERS,VOID_SALE,PRICE_OVERRIDE,VIEW_REPORTS,MANAGE_AP"),
            ("manager", "MANAGE_SETTINGS,VOID_SALE,PRICE_OVERRIDE,VIEW_REPORTS,MANAGE_AP"),
            ("manager", "VOID_SALE,PRICE_OVERRIDE,VIEW_REPORTS,MANAGE_AP"),
        ] + Array(repeating: ("cashier", "SELL,RETURN"), count: 7) + Array(repeating: ("stock", "RECEIVE,COUNT_INVENTORY"), count: 2)
        let insert = try BulkStatement(
            db, "INSERT INTO users (id, username, full_name, role, permissions, pin_hash, active, created_at) VALUES (?,?,?,?,?,?,?,?)")
        var usernames = Set<String>()
        var cashiers: [Int] = [], managers: [Int] = []
        for (index, (role, permissions)) in roles.enumerated() {
            let id = index + 1
            let first = rng.pick(Names.firstNames), last = rng.pick(Names.lastNames)
            var username = (String(first.prefix(1)) + last).lowercased().filter(\.isLetter)
            if usernames.contains(username) { username += String(id) }
            usernames.insert(username)
            insert.bind(1, id); insert.bind(2, username); insert.bind(3, "\(first) \(last)"); insert.bind(4, role)
            insert.bind(5, permissions); insert.bind(6, Self.argon2Looking(&rng)); insert.bind(7, index == 9 ? 0 : 1)
            insert.bind(8, created)
            try insert.run()
            if role == "cashier" && index != 9 { cashiers.append(id) }
            if role == "manager" || role == "owner" { managers.append(id) }
        }
        counts.add("users", roles.count)
        return (cashiers, managers)
    }

    /// A PIN hash that looks like the POS's argon2id output (the PINs are not recoverable).
    static func argon2Looking(_ rng: inout SplitMix64) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        func chunk(_ n: Int) -> String { String((0..<n).map { _ in alphabet[rng.below(64)] }) }
        return "$argon2id$v=19$m=19456,t=2,p=1$\(chunk(22))$\(chunk(43))"
    }

    private mutating func writeVendors(_ created: String, _ rng: inout SplitMix64) throws {
        let insert = try BulkStatement(db, """
            INSERT INTO vendors (id, name, contact_name, email, phone, street, city, state, zip, account_no, terms_days, created_at)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
            """)
        for (index, name) in Names.vendorNames.enumerated() {
            let place = rng.pick(Names.places)
            let domain = Catalog.slug(name).split(separator: "-").prefix(2).joined() + ".com"
            insert.bind(1, index + 1); insert.bind(2, name)
            insert.bind(3, "\(rng.pick(Names.firstNames)) \(rng.pick(Names.lastNames))")
            insert.bind(4, "orders@\(domain)"); insert.bind(5, Names.phone(area: place.area, &rng))
            insert.bind(6, Names.street(&rng)); insert.bind(7, place.city); insert.bind(8, place.state); insert.bind(9, place.zip)
            insert.bind(10, "CAPS-\(rng.int(in: 1000...9999))"); insert.bind(11, rng.pick([15, 30, 30, 30, 45, 60]))
            insert.bind(12, created)
            try insert.run()
        }
        counts.add("vendors", Names.vendorNames.count)
    }

    private mutating func writeCustomers(_ count: Int, _ rng: inout SplitMix64) throws -> [StoreModel.Customer] {
        let insert = try BulkStatement(db, """
            INSERT INTO customers (id, account_no, first_name, last_name, company, email, phone, street, city, state, zip,
                tax_exempt, credit_limit_cents, notes, created_at, updated_at)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            """)
        let notes = ["Prefers Harborline Eggshell for trim", "Resale certificate on file", "Call before delivery",
                     "Net 30 approved by owner", "Church account - tax exempt", "Color match on file: kitchen, living room",
                     "Pays by check only", "Do not extend further credit", "Landlord, 14 rental units"]
        var customers: [StoreModel.Customer] = []
        customers.reserveCapacity(count)
        for index in 0..<count {
            let id = index + 1
            let first = rng.pick(Names.firstNames), last = rng.pick(Names.lastNames)
            let place = rng.pick(Names.places)
            let contractor = rng.chance(0.18)
            let taxExempt = rng.chance(contractor ? 0.25 : 0.02)
            let hasAccount = contractor ? rng.chance(0.8) : rng.chance(0.04)
            let joined = firstDay.adding(days: rng.int(in: -900...900))
            insert.bind(1, id); insert.bind(2, "C" + String(100_000 + id)); insert.bind(3, first); insert.bind(4, last)
            insert.bind(5, contractor ? "\(last) \(rng.pick(Names.companyForms))" : nil)
            insert.bind(6, rng.chance(0.75)
                ? "\(first.lowercased()).\(last.lowercased().filter(\.isLetter))\(rng.chance(0.4) ? String(rng.int(in: 1...99)) : "")@\(rng.pick(Names.emailDomains))"
                : nil)
            insert.bind(7, Names.phone(area: place.area, &rng)); insert.bind(8, Names.street(&rng))
            insert.bind(9, place.city); insert.bind(10, place.state); insert.bind(11, place.zip)
            insert.bind(12, taxExempt ? 1 : 0); insert.bind(13, hasAccount ? rng.pick([50_000, 100_000, 250_000, 500_000]) : 0)
            insert.bind(14, rng.chance(0.06) ? rng.pick(notes) : nil)
            let stamp = Timestamp.dateTime(joined, secondOfDay: rng.int(in: 7 * 3600...19 * 3600))
            insert.bind(15, stamp); insert.bind(16, stamp)
            try insert.run()
            customers.append(.init(taxExempt: taxExempt, hasAccount: hasAccount, contractor: contractor))
        }
        counts.add("customers", count)
        return customers
    }

    private mutating func writeProducts(_ products: [CatalogProduct], images: ImagePlan, opened: String, _ rng: inout SplitMix64) throws {
        let insert = try BulkStatement(db, """
            INSERT INTO products (id, sku, upc, name, category, subcategory, vendor_id, unit, cost_cents, price_cents,
                taxable, image_path, active, created_at, updated_at)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            """)
        for (index, product) in products.enumerated() {
            insert.bind(1, index + 1); insert.bind(2, product.sku); insert.bind(3, product.upc); insert.bind(4, product.name)
            insert.bind(5, product.category); insert.bind(6, product.subcategory); insert.bind(7, product.vendorIndex + 1)
            insert.bind(8, product.unit); insert.bind(9, product.costCents); insert.bind(10, product.priceCents)
            insert.bind(11, 1)
            insert.bind(12, images.hasImage(product: index) ? product.imagePath() : nil)
            insert.bind(13, rng.chance(0.97) ? 1 : 0)
            insert.bind(14, opened); insert.bind(15, opened)
            try insert.run()
        }
        counts.add("products", products.count)
    }

    private mutating func writeInventory(_ model: inout StoreModel, opened: String, _ rng: inout SplitMix64) throws {
        let insert = try BulkStatement(db, """
            INSERT INTO inventory (id, product_id, on_hand, reorder_point, reorder_qty, bin_location, updated_at)
            VALUES (?,?,?,?,?,?,?)
            """)
        let aisles = Array("ABCDEFGHJKLMNP")
        for (index, product) in model.products.enumerated() {
            let bulky = product.unit == "5gal" || product.category == "Tools"
            let reorderPoint = bulky ? rng.int(in: 2...6) : rng.int(in: 6...24)
            let reorderQty = bulky ? rng.int(in: 4...12) : rng.int(in: 12...96)
            let onHand = reorderPoint + rng.int(in: 0...reorderQty)
            model.onHand.append(onHand); model.reorderPoint.append(reorderPoint); model.reorderQty.append(reorderQty)
            insert.bind(1, index + 1); insert.bind(2, index + 1); insert.bind(3, onHand); insert.bind(4, reorderPoint)
            insert.bind(5, reorderQty)
            insert.bind(6, "\(aisles[rng.below(aisles.count)])\(rng.int(in: 1...24))-\(rng.int(in: 1...6))")
            insert.bind(7, opened)
            try insert.run()
        }
        counts.add("inventory", model.products.count)
    }
}

/// Row counts per table, tallied while writing (counting a 1 GB database afterwards takes seconds).
struct RowCounts {
    private(set) var values: [String: Int] = Dictionary(uniqueKeysWithValues: Schema.tableNames.map { ($0, 0) })
    mutating func add(_ table: String, _ n: Int = 1) { values[table, default: 0] += n }
}
