import Foundation

/// The POS's config files: small, text, and precious (they go with every database backup).
enum ConfigFiles {
    static let names = ["pos.toml", "printers.json", "tax-rates.csv"]

    static func write(to layout: DemoStoreLayout, seed: UInt64) throws {
        try FileManager.default.createDirectory(at: layout.configDirectory, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: seed, stream: 4)
        let secret = (0..<4).map { _ in String(rng.next(), radix: 16).leftPadded(16) }.joined()
        let contents = [posToml(secret: secret), printersJSON, taxRatesCSV]
        for (name, text) in zip(names, contents) {
            try Data(text.utf8).write(to: layout.configDirectory.appendingPathComponent(name))
        }
    }

    static func posToml(secret: String) -> String {
        """
        # CAPS POS store server configuration
        [store]
        name = "Canal Street Paint & Hardware"
        number = 1
        address = "1418 Canal St, Cleveland, OH 44113"
        phone = "(216) 555-0148"
        timezone = "America/New_York"
        currency = "USD"

        [database]
        path = "pos.db"
        journal_mode = "wal"
        busy_timeout_ms = 5000

        [uploads]
        root = "uploads"
        product_images = "uploads/products"
        static_assets = ["uploads/paint-swatches"]

        [auth]
        # Signs the JWTs the POS issues to its users (HS256).
        jwt_hs256_secret = "\(secret)"
        token_ttl_minutes = 720

        [receipt]
        footer = "Thank you for shopping local! Returns within 30 days with receipt. Tinted paint is non-returnable."
        print_barcode = true

        [tax]
        default_rate = "OH-CUYAHOGA"
        rates_file = "config/tax-rates.csv"

        """
    }

    static let printersJSON = """
        {
          "receipt_printers": [
            { "station": "REG-01", "model": "Epson TM-T88VI", "connection": "usb", "device": "/dev/usb/lp0", "width_mm": 80 },
            { "station": "REG-02", "model": "Epson TM-T88VI", "connection": "network", "host": "192.168.10.51", "port": 9100, "width_mm": 80 },
            { "station": "REG-03", "model": "Star TSP143IIIU", "connection": "usb", "device": "/dev/usb/lp1", "width_mm": 80 },
            { "station": "REG-04", "model": "Epson TM-T20III", "connection": "network", "host": "192.168.10.53", "port": 9100, "width_mm": 80 }
          ],
          "label_printers": [
            { "name": "Paint desk labels", "model": "Zebra ZD421", "host": "192.168.10.60", "label": "2.25x1.25in", "dpi": 203 },
            { "name": "Shelf tags", "model": "Zebra ZD621", "host": "192.168.10.61", "label": "1.5x1in", "dpi": 300 }
          ],
          "cash_drawers": { "REG-01": "printer-kick", "REG-02": "printer-kick", "REG-03": "none", "REG-04": "printer-kick" }
        }

        """

    static let taxRatesCSV = """
        code,name,state_rate,county_rate,city_rate,total_rate,effective_from
        OH-CUYAHOGA,Cuyahoga County OH,0.0575,0.0150,0.0000,0.0725,2019-10-01
        OH-LAKE,Lake County OH,0.0575,0.0150,0.0000,0.0725,2020-04-01
        OH-LORAIN,Lorain County OH,0.0575,0.0075,0.0000,0.0650,2020-01-01
        OH-MEDINA,Medina County OH,0.0575,0.0100,0.0000,0.0675,2021-01-01
        OH-SUMMIT,Summit County OH,0.0575,0.0100,0.0000,0.0675,2021-01-01
        EXEMPT,Tax exempt (certificate on file),0,0,0,0,2000-01-01

        """
}
