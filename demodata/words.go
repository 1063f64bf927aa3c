package demodata

// The vocabularies the generator draws from. Changing any of them changes the data,
// which is fine: determinism is promised per version of this package, not across versions.

type city struct {
	name     string
	zip3     string // first three digits of the city's postal codes
	area     int    // telephone area code
	lat, lon float64
	weight   int
}

var cities = []city{
	{"Newark", "071", 973, 40.7357, -74.1724, 12},
	{"Houston", "770", 713, 29.7604, -95.3698, 12},
	{"Jersey City", "073", 201, 40.7178, -74.0431, 4},
	{"Paterson", "075", 862, 40.9168, -74.1718, 3},
	{"Elizabeth", "072", 908, 40.6640, -74.2107, 3},
	{"Pasadena", "775", 281, 29.6911, -95.2091, 3},
	{"Sugar Land", "774", 281, 29.6197, -95.6349, 2},
	{"New York", "100", 212, 40.7128, -74.0060, 6},
	{"Philadelphia", "191", 215, 39.9526, -75.1652, 4},
	{"Baltimore", "212", 410, 39.2904, -76.6122, 3},
	{"Boston", "021", 617, 42.3601, -71.0589, 3},
	{"Chicago", "606", 312, 41.8781, -87.6298, 4},
	{"Detroit", "482", 313, 42.3314, -83.0458, 3},
	{"Atlanta", "303", 404, 33.7490, -84.3880, 3},
	{"Miami", "331", 305, 25.7617, -80.1918, 3},
	{"Dallas", "752", 214, 32.7767, -96.7970, 3},
	{"San Antonio", "782", 210, 29.4241, -98.4936, 3},
	{"El Paso", "799", 915, 31.7619, -106.4850, 2},
	{"Phoenix", "850", 602, 33.4484, -112.0740, 3},
	{"Denver", "802", 303, 39.7392, -104.9903, 2},
	{"Los Angeles", "900", 213, 34.0522, -118.2437, 5},
	{"San Diego", "921", 619, 32.7157, -117.1611, 2},
	{"Seattle", "981", 206, 47.6062, -122.3321, 2},
	{"Minneapolis", "554", 612, 44.9778, -93.2650, 2},
}

var firstNames = []string{
	"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
	"William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
	"Luis", "Maria", "Jose", "Ana", "Juan", "Sofia", "Miguel", "Lucia", "Wei", "Mei",
	"Hiroshi", "Yuki", "Minh", "Linh", "Raj", "Priya", "Arjun", "Ananya", "Mohammed", "Fatima",
	"Omar", "Aisha", "Yusuf", "Layla", "Kwame", "Amara", "Chinedu", "Ngozi", "Dmitri", "Olga",
	"Ivan", "Natalia", "Pierre", "Camille", "Giovanni", "Giulia", "Sean", "Siobhan", "Kofi", "Zainab",
	"Daniel", "Emily", "Anthony", "Grace", "Kevin", "Chloe", "Marcus", "Tanya", "Andre", "Keisha",
}

var lastNames = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
	"Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis",
	"Garcia", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Perez", "Sanchez", "Ramirez", "Torres",
	"Nguyen", "Tran", "Chen", "Wang", "Li", "Zhang", "Kim", "Park", "Tanaka", "Sato",
	"Patel", "Shah", "Singh", "Kumar", "Khan", "Ali", "Hussain", "Rahman", "Okafor", "Mensah",
	"Diallo", "Ivanov", "Petrov", "Kowalski", "Novak", "Rossi", "Russo", "Dubois", "Murphy", "O'Brien",
	"Kelly", "Cohen", "Levy", "Haddad", "Nasser", "Santos", "Silva", "Reyes", "Cruz", "Morales",
}

var streetNames = []string{
	"Maple", "Oak", "Pine", "Cedar", "Elm", "Walnut", "Chestnut", "Willow", "Birch", "Spruce",
	"Washington", "Lincoln", "Jefferson", "Madison", "Franklin", "Jackson", "Adams", "Monroe", "Grant", "Hamilton",
	"Park", "Lake", "Hill", "River", "Spring", "Ridge", "Meadow", "Forest", "Sunset", "Highland",
	"Church", "Market", "Union", "Center", "Broad", "Mill", "Bridge", "Prospect", "Liberty", "Harbor",
}

var streetSuffixes = []string{"St", "Ave", "Blvd", "Rd", "Ln", "Dr", "Ct", "Way", "Pl", "Ter"}

type weighted struct {
	value  string
	weight int
}

var foreignNationalities = []weighted{
	{"Mexico", 20}, {"India", 8}, {"China", 7}, {"Philippines", 6}, {"El Salvador", 5},
	{"Vietnam", 4}, {"Cuba", 4}, {"Dominican Republic", 4}, {"Guatemala", 4}, {"Honduras", 3},
	{"South Korea", 3}, {"Colombia", 3}, {"Venezuela", 3}, {"Haiti", 3}, {"Nigeria", 2},
	{"Brazil", 2}, {"Pakistan", 2}, {"Ecuador", 2}, {"Jamaica", 2}, {"Ukraine", 2},
	{"Poland", 1}, {"Egypt", 1}, {"Syria", 1}, {"Afghanistan", 1}, {"Somalia", 1},
	{"Ethiopia", 1}, {"Iran", 1}, {"Canada", 2}, {"United Kingdom", 1}, {"Ireland", 1},
}

// foreignStatuses are the immigration statuses of persons who are not US nationals.
var foreignStatuses = []weighted{
	{"lawful_permanent_resident", 40}, {"visa_holder", 20}, {"student_visa", 6},
	{"temporary_protected_status", 6}, {"asylum_applicant", 7}, {"refugee", 5},
	{"daca_recipient", 3}, {"undocumented", 13},
}

var religions = []weighted{
	{"Protestant", 30}, {"Catholic", 21}, {"none", 26}, {"Orthodox Christian", 2},
	{"Jewish", 2}, {"Muslim", 2}, {"Buddhist", 1}, {"Hindu", 1}, {"Sikh", 1},
	{"other", 2}, {"unknown", 12},
}

var ethnicities = []weighted{
	{"White", 58}, {"Hispanic or Latino", 19}, {"Black or African American", 12}, {"Asian", 6},
	{"American Indian or Alaska Native", 1}, {"Native Hawaiian or Pacific Islander", 1},
	{"Middle Eastern or North African", 1}, {"Two or more", 2},
}

var pingSources = []weighted{
	{"cell_tower", 45}, {"adtech_sdk", 30}, {"wifi_probe", 15}, {"license_plate_reader", 10},
}

var providers = []string{
	"Garden State Power & Light", "Liberty Water Co.", "Tri-County Gas", "Gulf Coast Energy",
	"Bayou Water Authority", "Lone Star Gas Service", "Metro Electric Cooperative", "Northern Lights Utility",
	"Continental Broadband", "Summit Telecom", "Riverside Municipal Water", "Prairie Power",
}

var caseStatuses = []weighted{
	{"open", 35}, {"under_review", 15}, {"referred", 10}, {"closed", 40},
}

var officerRanks = []string{"Det.", "Agent", "Sgt.", "Officer", "Inv."}

var topics = []string{
	"sports", "music", "food", "local news", "weather", "traffic", "jobs", "family",
	"faith", "politics", "immigration", "protest", "health", "education",
}

// topicLines holds, per topic, sentences a post on that topic is made of.
var topicLines = map[string][]string{
	"sports":      {"What a game last night.", "The refs were awful again.", "Season tickets are too expensive this year.", "Pickup basketball at the park on Saturday."},
	"music":       {"That concert was unreal.", "New album is on repeat.", "Looking for a drummer for our band.", "Who's going to the festival?"},
	"food":        {"Best tacos in town, no contest.", "Trying a new recipe tonight.", "The bakery on the corner finally reopened.", "Grilling for the whole block this weekend."},
	"local news":  {"They are finally fixing the potholes.", "The library is extending its hours.", "Did anyone hear the sirens downtown?", "New apartments going up by the river."},
	"weather":     {"Too hot to go outside.", "Storm knocked out the power again.", "Perfect day for a walk.", "Flooding on my street after the rain."},
	"traffic":     {"Stuck on the highway for an hour.", "The bus never came this morning.", "Road work everywhere.", "Whoever designed this intersection owes me an apology."},
	"jobs":        {"Got the job!", "Anyone hiring warehouse workers?", "Double shift again.", "Union meeting on Thursday."},
	"family":      {"My daughter graduates next week.", "Happy birthday to my mother.", "Family dinner turned into a debate.", "Missing my grandparents back home."},
	"faith":       {"Beautiful service this morning.", "Volunteering at the food drive with my congregation.", "Praying for everyone affected by the storm.", "Holiday preparations have begun."},
	"politics":    {"Go vote on Tuesday.", "The council meeting was a circus.", "Call your representatives.", "Nobody is listening to the neighborhood."},
	"immigration": {"Finally got my work permit.", "Still waiting on the paperwork.", "Free legal clinic at the community center.", "Ten years since we arrived here."},
	"protest":     {"See you at the march on Saturday.", "Bring water and signs.", "Peaceful rally outside city hall.", "We will keep showing up."},
	"health":      {"Flu season is brutal.", "Free clinic this weekend.", "Started running again.", "The pharmacy line was an hour long."},
	"education":   {"Parent-teacher night was useful.", "The school needs new books.", "Finished my night classes.", "Tutoring kids at the library on Wednesdays."},
}
