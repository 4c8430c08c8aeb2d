import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { ALLOWED_ELEMENTS, FormattedBody, safeUrl, tooDeep } from "./markdown";
import { previewText, roughLines } from "./texts";

function html(body: string, me?: string): string {
  return renderToStaticMarkup(createElement(FormattedBody, { body, me }));
}

/** Every tag name in rendered HTML. */
function tags(out: string): string[] {
  return [...out.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => m[1].toLowerCase());
}

/** The attribute names of every real element (escaped text like `&lt;img onerror=…` is not one). */
function attributes(out: string): string[] {
  return [...out.matchAll(/<[a-zA-Z][^>]*>/g)].flatMap((tag) => [...tag[0].matchAll(/\s([^\s=/>]+)=/g)].map((m) => m[1].toLowerCase()));
}

/** Assert the output is inert: only allowed elements and attributes, no script-y URLs. */
function expectInert(out: string) {
  for (const tag of tags(out)) expect(ALLOWED_ELEMENTS, `element <${tag}> in ${out}`).toContain(tag);
  expect(out).not.toMatch(/<script/i);
  for (const attr of attributes(out)) expect(["href", "target", "rel", "class", "start"], `attribute ${attr} in ${out}`).toContain(attr);
  for (const m of out.matchAll(/href="([^"]*)"/g)) {
    expect(m[1], `href in ${out}`).toMatch(/^(https?:|mailto:)/i);
  }
}

describe("formatting", () => {
  it.each([
    ["**bold**", "<strong>bold</strong>"],
    ["*italic* and _this_", "<em>italic</em>"],
    ["~~gone~~", "<del>gone</del>"],
    ["use `npm ci`", "<code>npm ci</code>"],
    ["> quoted", "<blockquote>"],
    ["- one\n- two", "<ul>"],
    ["1. one\n2. two", "<ol>"],
    ["party :tada:", "🎉"],
    ["line one\nline two", "<br/>"],
  ])("%s renders", (body, expected) => {
    const out = html(body);
    expect(out).toContain(expected);
    expectInert(out);
  });

  it("makes links open in a new tab without an opener", () => {
    const out = html("see [docs](https://example.com/a?b=1) and https://palaver.example/x");
    expect(out).toContain('<a href="https://example.com/a?b=1" target="_blank" rel="noopener noreferrer">docs</a>');
    expect(out).toContain('<a href="https://palaver.example/x" target="_blank" rel="noopener noreferrer">');
  });

  it("highlights a fenced code block in a known language", () => {
    const out = html("```rust\nfn main() { let x = 1; }\n```");
    expect(out).toContain('<pre><code class="hljs language-rust">');
    expect(out).toContain('<span class="hljs-keyword">fn</span>');
    expectInert(out);
  });

  it("shows a block in an unknown language as plain code", () => {
    const out = html("```brainfudge\n+++\n```");
    expect(out).toContain("<pre><code");
    expect(out).toContain("+++");
  });

  it.each([
    ["# Heading", "# Heading"],
    ["Title\n===", "==="],
    ["![alt](https://example.com/x.png)", "!"],
    ["| a | b |\n|---|---|\n| 1 | 2 |", "| a | b |"],
    ["---", "---"],
    ["    indented", "indented"],
    ["<b>bold?</b>", "&lt;b&gt;bold?&lt;/b&gt;"],
    ["- [x] done", "[x] done"],
  ])("keeps %j as text (document features are off)", (body, text) => {
    const out = html(body);
    expect(out).toContain(text);
    for (const tag of ["h1", "h2", "img", "table", "hr", "input", "b"]) expect(tags(out)).not.toContain(tag);
    expectInert(out);
  });

  it("marks mentions, and mine apart", () => {
    const out = html("hi @alice and @bob, see `@carol` and mail a@b.example", "bob");
    expect(out).toContain('<span class="mention">@alice</span>');
    expect(out).toContain('<span class="mention me">@bob</span>');
    expect(out).toContain("<code>@carol</code>");
    expect(out).not.toContain('<span class="mention">@b.example');
  });
});

const HOSTILE: string[] = [
  "[x](javascript:alert(1))",
  "[x](JaVaScRiPt:alert(1))",
  "[x](  javascript:alert(1))",
  "[x](java\tscript:alert(1))",
  "[x](&#106;avascript:alert(1))",
  "[x](javascript&colon;alert(1))",
  "[x](data:text/html,<script>alert(1)</script>)",
  "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
  "[x](vbscript:msgbox(1))",
  "[x](file:///etc/passwd)",
  "<javascript:alert(1)>",
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(1)>",
  "<svg onload=alert(1)>",
  '<a href="javascript:alert(1)">x</a>',
  '<iframe src="javascript:alert(1)"></iframe>',
  "<details open ontoggle=alert(1)>",
  "![x](javascript:alert(1))",
  '![x](x" onerror="alert(1))',
  "[x](https://ok.example \"title\" onmouseover=alert(1))",
  "[a](<javascript:alert(1)>)",
  "[a][ref]\n\n[ref]: javascript:alert(1)",
  "**[x](javascript:alert(1))**",
  "> [x](javascript:alert(1))",
  "- [x](data:text/html,hi)",
  "[[x](javascript:alert(1))](https://ok.example)",
  "[x](https://ok.example)<script>alert(1)</script>",
  "```html\n<script>alert(1)</script>\n```",
  "`<img src=x onerror=alert(1)>`",
  "<style>body{display:none}</style>",
  "<!-- comment --><b onclick=alert(1)>x</b>",
  "[x](mailto:a@b.example?body=<script>)",
  ":tada:<img src=x onerror=alert(1)>:tada:",
];

describe("hostile bodies", () => {
  it.each(HOSTILE)("%j renders inert", (body) => {
    const out = html(body);
    expectInert(out);
    expect(out.toLowerCase()).not.toContain('href="javascript');
    expect(out.toLowerCase()).not.toContain('href="data');
    expect(out.toLowerCase()).not.toContain('href="vbscript');
  });

  it.each([
    ["deep quotes", "> ".repeat(1999) + "x"],
    ["deep lists", Array.from({ length: 400 }, (_, i) => `${"  ".repeat(i)}- x`).join("\n").slice(0, 4000)],
    ["open brackets", "[".repeat(4000)],
    ["emphasis runs", "*a **b ".repeat(500)],
    ["backticks", "`".repeat(4000)],
    ["link chain", "[x](".repeat(1000)],
    ["underscores", "_".repeat(4000)],
    ["shortcodes", ":tada:".repeat(660)],
  ])("%s (4000 characters) renders", (_name, body) => {
    expect(body.length).toBeLessThanOrEqual(4000);
    const out = html(body);
    expectInert(out);
    expect(out.length).toBeGreaterThan(0);
  });
});

describe("safeUrl", () => {
  it.each([
    ["https://a.example", "https://a.example"],
    ["http://a.example/x", "http://a.example/x"],
    ["mailto:a@b.example", "mailto:a@b.example"],
    ["javascript:alert(1)", ""],
    ["data:text/html,x", ""],
    ["vbscript:x", ""],
    ["/relative", ""],
    ["#frag", ""],
  ])("%s → %j", (input, expected) => expect(safeUrl(input)).toBe(expected));
});

describe("roughLines", () => {
  it("counts lines and wraps long ones", () => {
    expect(roughLines("a")).toBe(1);
    expect(roughLines("a\nb\nc")).toBe(3);
    expect(roughLines("x".repeat(200))).toBe(3);
  });
});

describe("tooDeep", () => {
  it("lets ordinary nesting be formatted and shows absurd nesting as plain text", () => {
    expect(tooDeep("> > > quoted thrice")).toBe(false);
    expect(tooDeep("- a\n  - b\n    - c")).toBe(false);
    expect(tooDeep("> ".repeat(17) + "x")).toBe(true);
    expect(tooDeep("ok\n" + ">".repeat(40))).toBe(true);
    expect(tooDeep(" ".repeat(60) + "- deep")).toBe(true);
    expect(html("> ".repeat(1999) + "x")).toBe(`<p class="plain-body">${"&gt; ".repeat(1999)}x</p>`);
  });
});

describe("previewText", () => {
  it("drops markdown marks and squeezes lines", () => {
    expect(previewText("Release **v2.4** ships `x`\n\n> quoted")).toBe("Release v2.4 ships x quoted");
    expect(previewText("```rust\nfn main() {}\n```")).toBe("fn main() {}");
    expect(previewText("a".repeat(300), 10)).toBe("aaaaaaaaa…");
  });
});
