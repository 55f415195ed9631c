/// Believable people, places and companies for a paint & hardware store in northeast Ohio.
/// All names are made up by combination; none refers to a real business.
enum Names {
    static let firstNames = [
        "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
        "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
        "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra",
        "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
        "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Dorothy", "George", "Melissa", "Timothy", "Deborah",
        "Ronald", "Stephanie", "Edward", "Rebecca", "Jason", "Sharon", "Jeffrey", "Laura", "Ryan", "Cynthia",
        "Jacob", "Kathleen", "Gary", "Amy", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Anna",
        "Stephen", "Brenda", "Larry", "Pamela", "Justin", "Emma", "Scott", "Nicole", "Brandon", "Helen",
        "Benjamin", "Samantha", "Samuel", "Katherine", "Gregory", "Christine", "Alexander", "Debra", "Frank",
        "Rachel", "Patrick", "Carolyn", "Raymond", "Janet", "Jack", "Catherine", "Dennis", "Maria", "Jerry",
        "Heather", "Tyler", "Diane", "Aaron", "Ruth", "Jose", "Julie", "Adam", "Olivia", "Nathan", "Joyce",
        "Henry", "Virginia", "Douglas", "Victoria", "Zachary", "Kelly", "Peter", "Lauren", "Kyle", "Christina",
        "Walter", "Joan", "Ethan", "Evelyn", "Jeremy", "Judith", "Harold", "Megan", "Keith", "Andrea",
        "Christian", "Cheryl", "Roger", "Hannah", "Noah", "Jacqueline", "Gerald", "Martha", "Carl", "Gloria",
    ]

    static let lastNames = [
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Garcia", "Wilson", "Anderson",
        "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis",
        "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams",
        "Nelson", "Baker", "Hall", "Campbell", "Mitchell", "Carter", "Roberts", "Phillips", "Evans", "Turner",
        "Parker", "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Cooper",
        "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Cox", "Ward", "Richardson", "Watson", "Brooks",
        "Wood", "James", "Bennett", "Gray", "Hughes", "Price", "Sanders", "Myers", "Long", "Ross",
        "Foster", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson",
        "Barnes", "Fisher", "Kowalski", "Novak", "Schmidt", "Mueller", "Schneider", "Wagner", "Becker", "Hoffman",
        "Kovacs", "Petrovic", "Horvath", "Lombardi", "Russo", "Marino", "O'Brien", "McCarthy", "Gallagher", "Doyle",
        "Brennan", "Zielinski", "Wojcik", "Kaminski", "Lindqvist", "Yoder", "Stoltzfus", "Hershberger", "Troyer",
    ]

    static let streetNames = [
        "Maple", "Oak", "Elm", "Cedar", "Pine", "Walnut", "Chestnut", "Hickory", "Sycamore", "Willow",
        "Lake", "Ridge", "Hillcrest", "Meadow", "Orchard", "Mill", "Church", "Market", "Main", "High",
        "Washington", "Lincoln", "Jefferson", "Madison", "Franklin", "Jackson", "Monroe", "Grant", "Sherman",
        "Euclid", "Mayfield", "Chagrin", "Lorain", "Detroit", "Pearl", "Canal", "River", "Harbor", "Station",
        "Prospect", "Fairview", "Sunset", "Parkview", "Highland", "Woodland", "Brookside", "Glenwood", "Lakeshore",
        "Center", "Water", "Bridge", "Spring", "Forest", "Summit", "Union", "Liberty", "Superior", "Erie",
    ]

    static let streetTypes = ["St", "Ave", "Rd", "Dr", "Ln", "Blvd", "Ct", "Way", "Pkwy", "Pl"]

    /// City, state, ZIP, phone area code.
    static let places: [(city: String, state: String, zip: String, area: String)] = [
        ("Cleveland", "OH", "44113", "216"), ("Lakewood", "OH", "44107", "216"), ("Parma", "OH", "44129", "440"),
        ("Euclid", "OH", "44123", "216"), ("Mentor", "OH", "44060", "440"), ("Strongsville", "OH", "44136", "440"),
        ("Westlake", "OH", "44145", "440"), ("Elyria", "OH", "44035", "440"), ("Lorain", "OH", "44052", "440"),
        ("Medina", "OH", "44256", "330"), ("Akron", "OH", "44308", "330"), ("Cuyahoga Falls", "OH", "44221", "330"),
        ("Stow", "OH", "44224", "330"), ("Kent", "OH", "44240", "330"), ("Hudson", "OH", "44236", "330"),
        ("Solon", "OH", "44139", "440"), ("Shaker Heights", "OH", "44120", "216"), ("Brunswick", "OH", "44212", "330"),
        ("North Olmsted", "OH", "44070", "440"), ("Avon Lake", "OH", "44012", "440"), ("Painesville", "OH", "44077", "440"),
        ("Willoughby", "OH", "44094", "440"), ("Chardon", "OH", "44024", "440"), ("Wadsworth", "OH", "44281", "330"),
    ]

    static let companyForms = [
        "Painting LLC", "Painting & Decorating", "Construction", "Builders Inc.", "Home Improvement",
        "Property Management", "Renovations", "Contracting LLC", "& Sons Remodeling", "Restoration Co.",
        "Handyman Services", "Drywall & Paint", "Custom Homes", "Maintenance Group", "Finishing Co.",
    ]

    static let vendorNames = [
        "Great Lakes Paint Supply", "Allegheny Hardware Distributors", "Midwest Fastener Co.",
        "Buckeye Tool & Supply", "Western Reserve Coatings", "Keystone Sundries Inc.", "Lakeshore Plumbing Wholesale",
        "Cuyahoga Electric Supply", "Heartland Lawn & Garden", "North Coast Janitorial", "Ironridge Brush Works",
        "Summit Abrasives", "Tri-State Ladder Co.", "Ohio Valley Caulk & Sealant", "Meridian Roller Mfg.",
        "Harborline Paints Direct", "TrueTone Color Systems", "Riverbend Hardware Wholesale", "Erie Builders Supply",
        "Continental Stain Corp.", "Prairie Tape Products", "Atlas Hand Tools", "Blue Heron Drop Cloth Co.",
        "Canal Street Lumber & Supply",
    ]

    static let emailDomains = ["gmail.com", "yahoo.com", "outlook.com", "aol.com", "icloud.com", "sbcglobal.net", "att.net"]

    static func street(_ rng: inout SplitMix64) -> String {
        "\(rng.int(in: 100...9899)) \(rng.pick(streetNames)) \(rng.pick(streetTypes))"
    }

    static func phone(area: String, _ rng: inout SplitMix64) -> String {
        "(\(area)) \(rng.int(in: 201...989))-\(String(rng.int(in: 0...9999)).leftPadded(4))"
    }
}

extension String {
    /// Zero-padded to `width` characters.
    func leftPadded(_ width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
