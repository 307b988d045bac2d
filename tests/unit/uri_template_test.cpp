#define CAF_SUITE uri_template
#include <caf/test/unit_test.hpp>

#include "uri/uri_template.hpp"

using namespace herald::uri;

namespace {

/// The variables of RFC 6570's examples (section 3.2).
template_vars rfc_vars() {
  using list = std::vector<std::string>;
  using map = std::vector<std::pair<std::string, std::string>>;
  return {
    {"count", list{"one", "two", "three"}},
    {"dom", list{"example", "com"}},
    {"dub", std::string{"me/too"}},
    {"hello", std::string{"Hello World!"}},
    {"half", std::string{"50%"}},
    {"var", std::string{"value"}},
    {"who", std::string{"fred"}},
    {"base", std::string{"http://example.com/home/"}},
    {"path", std::string{"/foo/bar"}},
    {"list", list{"red", "green", "blue"}},
    {"keys", map{{"semi", ";"}, {"dot", "."}, {"comma", ","}}},
    {"v", std::string{"6"}},
    {"x", std::string{"1024"}},
    {"y", std::string{"768"}},
    {"empty", std::string{}},
    {"empty_keys", map{}},
  };
}

// (template, expansion) pairs of RFC 6570 sections 3.2.2 to 3.2.9.
const std::pair<const char*, const char*> rfc_examples[] = {
  {"{var}", "value"}, {"{hello}", "Hello%20World%21"}, {"{half}", "50%25"},
  {"O{empty}X", "OX"}, {"O{undef}X", "OX"}, {"{x,y}", "1024,768"},
  {"{x,hello,y}", "1024,Hello%20World%21,768"}, {"?{x,empty}", "?1024,"},
  {"?{x,undef}", "?1024"}, {"?{undef,y}", "?768"}, {"{var:3}", "val"}, {"{var:30}", "value"},
  {"{list}", "red,green,blue"}, {"{list*}", "red,green,blue"},
  {"{keys}", "semi,%3B,dot,.,comma,%2C"}, {"{keys*}", "semi=%3B,dot=.,comma=%2C"},
  {"{+var}", "value"}, {"{+hello}", "Hello%20World!"}, {"{+half}", "50%25"},
  {"{base}index", "http%3A%2F%2Fexample.com%2Fhome%2Findex"},
  {"{+base}index", "http://example.com/home/index"}, {"O{+empty}X", "OX"},
  {"{+path}/here", "/foo/bar/here"}, {"here?ref={+path}", "here?ref=/foo/bar"},
  {"up{+path}{var}/here", "up/foo/barvalue/here"}, {"{+x,hello,y}", "1024,Hello%20World!,768"},
  {"{+path,x}/here", "/foo/bar,1024/here"}, {"{+path:6}/here", "/foo/b/here"},
  {"{+list}", "red,green,blue"}, {"{+list*}", "red,green,blue"},
  {"{+keys}", "semi,;,dot,.,comma,,"}, {"{+keys*}", "semi=;,dot=.,comma=,"},
  {"{#var}", "#value"}, {"{#hello}", "#Hello%20World!"}, {"{#half}", "#50%25"},
  {"foo{#empty}", "foo#"}, {"foo{#undef}", "foo"}, {"{#x,hello,y}", "#1024,Hello%20World!,768"},
  {"{#path,x}/here", "#/foo/bar,1024/here"}, {"{#path:6}/here", "#/foo/b/here"},
  {"{#list}", "#red,green,blue"}, {"{#list*}", "#red,green,blue"},
  {"{#keys}", "#semi,;,dot,.,comma,,"}, {"{#keys*}", "#semi=;,dot=.,comma=,"},
  {"{.who}", ".fred"}, {"{.who,who}", ".fred.fred"}, {"{.half,who}", ".50%25.fred"},
  {"www{.dom*}", "www.example.com"}, {"X{.var}", "X.value"}, {"X{.empty}", "X."},
  {"X{.undef}", "X"}, {"X{.var:3}", "X.val"}, {"X{.list}", "X.red,green,blue"},
  {"X{.list*}", "X.red.green.blue"}, {"X{.keys}", "X.semi,%3B,dot,.,comma,%2C"},
  {"X{.keys*}", "X.semi=%3B.dot=..comma=%2C"}, {"X{.empty_keys}", "X"},
  {"X{.empty_keys*}", "X"},
  {"{/who}", "/fred"}, {"{/who,who}", "/fred/fred"}, {"{/half,who}", "/50%25/fred"},
  {"{/who,dub}", "/fred/me%2Ftoo"}, {"{/var}", "/value"}, {"{/var,empty}", "/value/"},
  {"{/var,undef}", "/value"}, {"{/var,x}/here", "/value/1024/here"},
  {"{/var:1,var}", "/v/value"}, {"{/list}", "/red,green,blue"},
  {"{/list*}", "/red/green/blue"}, {"{/list*,path:4}", "/red/green/blue/%2Ffoo"},
  {"{/keys}", "/semi,%3B,dot,.,comma,%2C"}, {"{/keys*}", "/semi=%3B/dot=./comma=%2C"},
  {"{;who}", ";who=fred"}, {"{;half}", ";half=50%25"}, {"{;empty}", ";empty"},
  {"{;v,empty,who}", ";v=6;empty;who=fred"}, {"{;v,bar,who}", ";v=6;who=fred"},
  {"{;x,y}", ";x=1024;y=768"}, {"{;x,y,empty}", ";x=1024;y=768;empty"},
  {"{;x,y,undef}", ";x=1024;y=768"}, {"{;hello:5}", ";hello=Hello"},
  {"{;list}", ";list=red,green,blue"}, {"{;list*}", ";list=red;list=green;list=blue"},
  {"{;keys}", ";keys=semi,%3B,dot,.,comma,%2C"}, {"{;keys*}", ";semi=%3B;dot=.;comma=%2C"},
  {"{?who}", "?who=fred"}, {"{?half}", "?half=50%25"}, {"{?x,y}", "?x=1024&y=768"},
  {"{?x,y,empty}", "?x=1024&y=768&empty="}, {"{?x,y,undef}", "?x=1024&y=768"},
  {"{?var:3}", "?var=val"}, {"{?list}", "?list=red,green,blue"},
  {"{?list*}", "?list=red&list=green&list=blue"}, {"{?keys}", "?keys=semi,%3B,dot,.,comma,%2C"},
  {"{?keys*}", "?semi=%3B&dot=.&comma=%2C"},
  {"{&who}", "&who=fred"}, {"{&half}", "&half=50%25"}, {"?fixed=yes{&x}", "?fixed=yes&x=1024"},
  {"{&x,y,empty}", "&x=1024&y=768&empty="}, {"{&var:3}", "&var=val"},
  {"{&list}", "&list=red,green,blue"}, {"{&list*}", "&list=red&list=green&list=blue"},
  {"{&keys}", "&keys=semi,%3B,dot,.,comma,%2C"}, {"{&keys*}", "&semi=%3B&dot=.&comma=%2C"},
};

bool matches(const char* tmpl, std::string_view text) {
  auto t = uri_template::parse(tmpl);
  if (!t)
    CAF_FAIL("template does not parse: " << tmpl);
  return t->matches(text);
}

} // namespace

CAF_TEST(every RFC 6570 example expands as the RFC says and matches its own expansion) {
  auto vars = rfc_vars();
  for (auto& [tmpl, want] : rfc_examples) {
    auto t = uri_template::parse(tmpl);
    CAF_REQUIRE(t.has_value());
    CAF_CHECK_EQUAL(t->expand(vars), std::string{want});
    if (!t->matches(want))
      CAF_FAIL(tmpl << " does not match its expansion " << want);
  }
}

CAF_TEST(mercure selectors match the topics they could expand to and no others) {
  CAF_CHECK(matches("https://example.com/books/{id}", "https://example.com/books/1"));
  CAF_CHECK(matches("https://example.com/books/{id}", "https://example.com/books/"));
  CAF_CHECK(!matches("https://example.com/books/{id}", "https://example.com/books/1/reviews"));
  CAF_CHECK(!matches("https://example.com/books/{id}", "https://example.com/users/1"));
  CAF_CHECK(matches("https://example.com/{+path}", "https://example.com/a/b/c?x=1"));
  CAF_CHECK(matches("https://example.com/books/{id}{?format}",
                    "https://example.com/books/7?format=json"));
  CAF_CHECK(matches("https://example.com/books/{id}{?format}", "https://example.com/books/7"));
  CAF_CHECK(!matches("https://example.com/books/{id}{?format}",
                     "https://example.com/books/7#frag"));
  CAF_CHECK(matches("urn:isbn:{isbn}", "urn:isbn:0-486-27557-4"));
  CAF_CHECK(matches("{/a,b}/end", "/x/y/end"));
  CAF_CHECK(!matches("{/a,b}/end", "x/y/end"));
  CAF_CHECK(matches("plain", "plain"));
  CAF_CHECK(!matches("plain", "plainer"));
  // Long strings: no recursion, no blow-up.
  std::string long_topic = "https://example.com/" + std::string(100000, 'a');
  CAF_CHECK(matches("https://example.com/{a}{b}{c}{d}{e}", long_topic));
  CAF_CHECK(!matches("https://example.com/{a}{b}{c}{d}{e}/x", long_topic));
}

CAF_TEST(malformed templates are refused with a reason) {
  std::string why;
  CAF_CHECK(!uri_template::parse("https://x/{id", &why));
  CAF_CHECK_EQUAL(why, "an expression is not closed");
  CAF_CHECK(!uri_template::parse("https://x/id}", &why));
  CAF_CHECK(!uri_template::parse("{}", &why));
  CAF_CHECK(!uri_template::parse("{=x}", &why));
  CAF_CHECK(!uri_template::parse("{x:0}", &why));
  CAF_CHECK(!uri_template::parse("{x:10000}", &why));
  CAF_CHECK(!uri_template::parse("{a b}", &why));
  CAF_CHECK(uri_template::parse("{a.b,c_d:3,e*}").has_value());
  CAF_CHECK(uri_template::parse("no expressions at all")->literal());
}
