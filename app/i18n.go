package app

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/text/language"

	"tandem/assets"
	"tandem/views"
)

// messagesAsset is the message catalogue that the pages and the scripts share:
// {"en": {"key": "text", ...}, "zh-CN": {...}}. Texts may hold {name}
// placeholders, which the script fills in.
const messagesAsset = "messages.json"

// languages are the tags of the catalogue, the default first.
var languages = []string{"en", "zh-CN"}

var languageMatcher = language.NewMatcher([]language.Tag{language.English, language.SimplifiedChinese})

// langCookie remembers the language someone picked with the switcher.
const langCookie = "lang"

// catalogue maps a language tag to its messages by key.
type catalogue map[string]map[string]string

// loadCatalogue reads the embedded catalogue.
func loadCatalogue(b *assets.Bundle) (catalogue, error) {
	f, ok := b.ByURL(b.URL(messagesAsset))
	if !ok {
		return nil, fmt.Errorf("app: no %s among the assets", messagesAsset)
	}
	return parseCatalogue(f.Body)
}

// parseCatalogue decodes a catalogue and checks that every language has a
// text for every key, so that no page shows a bare key.
func parseCatalogue(body []byte) (catalogue, error) {
	var c catalogue
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("app: %s: %w", messagesAsset, err)
	}
	for _, lang := range languages {
		if len(c[lang]) == 0 {
			return nil, fmt.Errorf("app: %s has no %q messages", messagesAsset, lang)
		}
		for key := range c[languages[0]] {
			if c[lang][key] == "" {
				return nil, fmt.Errorf("app: %s: %q has no %q text", messagesAsset, key, lang)
			}
		}
		if len(c[lang]) != len(c[languages[0]]) {
			return nil, fmt.Errorf("app: %s: %q has keys that %q lacks", messagesAsset, lang, languages[0])
		}
	}
	return c, nil
}

// pageLanguage picks the language of a page: ?lang= (then remembered in a
// cookie), else the remembered one, else the best match for
// Accept-Language, else English.
func pageLanguage(c *fiber.Ctx) string {
	if lang := c.Query("lang"); slices.Contains(languages, lang) {
		c.Cookie(&fiber.Cookie{Name: langCookie, Value: lang, Path: "/", Expires: time.Now().AddDate(1, 0, 0), SameSite: fiber.CookieSameSiteLaxMode})
		return lang
	}
	if lang := c.Cookies(langCookie); slices.Contains(languages, lang) {
		return lang
	}
	tags, _, _ := language.ParseAcceptLanguage(c.Get(fiber.HeaderAcceptLanguage))
	_, i, _ := languageMatcher.Match(tags...)
	return languages[i]
}

// page is what a page in the request's language is rendered with.
func (h *handlers) page(c *fiber.Ctx) views.Page { return h.pageWith(c, "call.js") }

// pageWith is page for a page whose script is script.
func (h *handlers) pageWith(c *fiber.Ctx, script string) views.Page {
	lang := pageLanguage(c)
	other := languages[0]
	if lang == other {
		other = languages[1]
	}
	return views.Page{
		Assets:    h.viewAssets(script),
		Lang:      lang,
		Other:     other,
		OtherName: h.messages[other]["lang.name"],
		T:         func(key string) string { return h.messages[lang][key] },
	}
}
