import Foundation

/// Which product each image belongs to. Image `i` goes to product `i % products`; once every
/// product has a primary image, further images become extra views (`sku-2.png`, …).
struct ImagePlan {
    let images: Int
    let products: Int

    func hasImage(product: Int) -> Bool { product < images }

    func assignment(_ image: Int) -> (product: Int, variant: Int) {
        (image % products, image / products)
    }
}

/// Writes `uploads/`: product photos below `products/<category>/<sub>[/<sub>]/`, and the paint
/// swatches, static assets the backup skips because they can be downloaded again.
struct UploadsWriter {
    let layout: DemoStoreLayout
    let seed: UInt64

    struct Result {
        var images = 0
        var imageBytes: Int64 = 0
        var swatches = 0
    }

    func write(products: [CatalogProduct], plan: ImagePlan) throws -> Result {
        var result = Result()
        var sizes = SplitMix64(seed: seed, stream: 2)
        var created = Set<String>()
        for image in 0..<plan.images {
            let (product, variant) = plan.assignment(image)
            let url = layout.uploads.appendingPathComponent(products[product].imagePath(variant: variant))
            let folder = url.deletingLastPathComponent().path
            if created.insert(folder).inserted {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            let (width, height) = Self.photoDimensions(&sizes)
            // Each image has its own stream, so one image's size does not shift the others' pixels.
            var pixels = SplitMix64(seed: seed, stream: 1_000_000 + UInt64(image))
            let bytes = PNGWriter.png(width: width, height: height) { pixels.fill($0) }
            try Data(bytes).write(to: url)
            result.images += 1
            result.imageBytes += Int64(bytes.count)
        }
        result.swatches = try writeSwatches(count: max(8, plan.images / 10))
        return result
    }

    /// Photo sizes are log-normal: median ~35 KB, clamped to 5–200 KB, in a few aspect ratios.
    static func photoDimensions(_ rng: inout SplitMix64) -> (width: Int, height: Int) {
        let bytes = min(200_000, max(5_000, 35_000 * exp(0.75 * rng.gaussian())))
        let aspect = rng.pick([1.0, 1.0, 4.0 / 3.0, 3.0 / 4.0, 3.0 / 2.0])
        let width = max(8, Int((bytes / 3 * aspect).squareRoot()))
        let height = max(8, Int(bytes) / (1 + 3 * width))
        return (width, height)
    }

    private func writeSwatches(count: Int) throws -> Int {
        var rng = SplitMix64(seed: seed, stream: 3)
        let collections = ["harborline-colors", "truetone-historic", "summit-designer"]
        let words = ["Soft", "Fern", "Harbor", "Mist", "Stone", "Linen", "Ember", "Slate", "Meadow", "Pearl", "Canyon",
                     "Dusk", "Ivory", "Sage", "Clay", "Tide", "Birch", "Copper", "Fog", "Moss"]
        for index in 0..<count {
            let collection = collections[index % collections.count]
            let folder = layout.paintSwatches.appendingPathComponent(collection)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let name = "\(collection.prefix(2).uppercased())-\(String(index + 100).leftPadded(4))-"
                + "\(rng.pick(words).lowercased())-\(rng.pick(words).lowercased()).png"
            let color = [UInt8(rng.below(256)), UInt8(rng.below(256)), UInt8(rng.below(256))]
            let bytes = PNGWriter.png(width: 40, height: 40) { row in
                for offset in 0..<row.count { row[offset] = color[offset % 3] }
            }
            try Data(bytes).write(to: folder.appendingPathComponent(name))
        }
        return count
    }
}
