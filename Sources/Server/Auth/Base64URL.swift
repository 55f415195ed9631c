import Foundation

/// base64url without padding (RFC 7515 §2), strict: any other character, padding, a length no
/// encoder produces, or a non-canonical spelling (unused low bits of the last character set, so
/// that several texts decode to the same bytes) is an error rather than something to guess around.
/// A token therefore has exactly one spelling, and what was signed is what was checked.
enum Base64URL {
    static func decode(_ text: Substring) -> [UInt8]? {
        var standard = ""
        standard.reserveCapacity(text.utf8.count + 3)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                standard.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "-"): standard.append("+")
            case UInt8(ascii: "_"): standard.append("/")
            default: return nil
            }
        }
        switch standard.utf8.count % 4 {
        case 0: break
        case 2: standard += "=="
        case 3: standard += "="
        default: return nil
        }
        guard let bytes = Data(base64Encoded: standard).map({ Array($0) }) else { return nil }
        // Decode, re-encode, compare: the only spelling accepted is the one an encoder writes.
        guard encode(bytes).utf8.elementsEqual(text.utf8) else { return nil }
        return bytes
    }

    static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
