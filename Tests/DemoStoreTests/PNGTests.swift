import Foundation
import Testing
@testable import DemoStore

@Suite struct PNGTests {
    @Test func checksumsMatchKnownVectors() {
        #expect(CRC32.checksum(Array("123456789".utf8)[...]) == 0xCBF4_3926)
        #expect(PNGWriter.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        // Checksums over more than one zlib NMAX run.
        let big = [UInt8](repeating: 0xFF, count: 100_000)
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in big { a = (a + UInt32(byte)) % 65_521; b = (b + a) % 65_521 }
        #expect(PNGWriter.adler32(big) == b << 16 | a)
    }

    @Test func storedZlibHandlesBlockBoundaries() {
        for size in [0, 1, 65_535, 65_536, 200_000] {
            let zlib = PNGWriter.storedZlib([UInt8](repeating: 7, count: size))
            let blocks = max(1, (size + 65_534) / 65_535)
            #expect(zlib.count == 2 + blocks * 5 + size + 4)
        }
    }

    /// Every PNG the seeder wrote, checked by Python's zlib: signature, chunk order and CRCs,
    /// IHDR, the IDAT stream (zlib verifies its Adler-32) and its size, filter bytes; product
    /// photos must be incompressible.
    @Test(.enabled(if: pythonAvailable)) func seededImagesAreValidPNGs() throws {
        let store = try TemporaryStore(sizeMB: 1, images: 20)
        let script = #"""
        import json, os, struct, sys, zlib
        root = sys.argv[1]
        out = {"files": 0, "errors": [], "sizes": [], "compressible": 0}
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = os.path.join(dirpath, name)
                data = open(path, "rb").read()
                out["files"] += 1
                out["sizes"].append(len(data))
                try:
                    assert data[:8] == b"\x89PNG\r\n\x1a\n", "signature"
                    pos, idat, ihdr, types = 8, b"", None, []
                    while pos < len(data):
                        length, = struct.unpack(">I", data[pos:pos + 4])
                        kind = data[pos + 4:pos + 8]
                        body = data[pos + 8:pos + 8 + length]
                        crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
                        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, "CRC of " + kind.decode()
                        types.append(kind.decode())
                        if kind == b"IHDR": ihdr = struct.unpack(">IIBBBBB", body)
                        if kind == b"IDAT": idat += body
                        pos += 12 + length
                    assert pos == len(data), "trailing bytes"
                    assert types[0] == "IHDR" and types[-1] == "IEND" and "IDAT" in types, types
                    w, h, depth, color, comp, filt, interlace = ihdr
                    assert (depth, color, comp, filt, interlace) == (8, 2, 0, 0, 0), ihdr
                    raw = zlib.decompress(idat)
                    assert len(raw) == h * (1 + 3 * w), "raw size %d for %dx%d" % (len(raw), w, h)
                    assert all(raw[r * (1 + 3 * w)] == 0 for r in range(h)), "filter bytes"
                    if "/products/" in path and len(zlib.compress(raw, 6)) < 0.97 * len(raw):
                        out["compressible"] += 1
                except Exception as e:
                    out["errors"].append("%s: %s" % (path, e))
        print(json.dumps(out))
        """#
        struct Result: Decodable { var files: Int; var errors: [String]; var sizes: [Int]; var compressible: Int }
        let result = try JSONDecoder().decode(Result.self, from: runPython(script, [store.layout.uploads.path]))
        #expect(result.errors == [])
        #expect(result.files == 20 + store.report.swatchCount)
        #expect(result.compressible == 0)
        let photos = try regularFiles(under: store.layout.productImages).map {
            try Data(contentsOf: store.layout.productImages.appendingPathComponent($0)).count
        }
        #expect(photos.allSatisfy { (4_500...210_000).contains($0) })
    }
}
