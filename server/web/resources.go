package web

// organisation is one entry of the safety-resources page. Name and About
// are catalogue keys; URL is the organisation's public website, the same in
// every language. Only facts that the organisations publish themselves
// belong here: no phone numbers or onion addresses that could go stale or
// be wrong.
type organisation struct {
	Name, About, URL string
}

// organisations lists press-freedom, safety and legal-aid organisations
// that help journalists in danger.
func organisations() []organisation {
	return []organisation{
		{"org.ifj.name", "org.ifj.about", "https://www.ifj.org/"},
		{"org.rsf.name", "org.rsf.about", "https://rsf.org/"},
		{"org.cpj.name", "org.cpj.about", "https://cpj.org/"},
		{"org.iwmf.name", "org.iwmf.about", "https://www.iwmf.org/"},
		{"org.ecpmf.name", "org.ecpmf.about", "https://www.ecpmf.eu/"},
		{"org.ims.name", "org.ims.about", "https://www.mediasupport.org/"},
		{"org.fpu.name", "org.fpu.about", "https://www.freepressunlimited.org/"},
		{"org.accessnow.name", "org.accessnow.about", "https://www.accessnow.org/help/"},
		{"org.adilsoz.name", "org.adilsoz.about", "https://adilsoz.kz/"},
	}
}
