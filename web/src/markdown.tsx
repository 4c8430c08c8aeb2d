/**
 * Message formatting: a small, safe markdown subset rendered to React elements (never innerHTML).
 * The stored body stays exactly what the person typed; only the display is formatted.
 *
 * The subset (a chat, not a document):
 * - on: **bold**, *italic*, ~~strike~~, `inline code`, fenced code blocks (highlighted for a few
 *   languages), > quotes, - / 1. lists, [links](https://…), autolinked URLs and emails,
 *   `:shortcode:` emoji, line breaks as typed, @mentions marked.
 * - off: headings, images, tables, footnotes, task lists, horizontal rules, link definitions,
 *   indented code (four spaces stay text) and raw HTML — which shows as the text that was typed.
 *
 * Safety is layered: the parser never produces HTML nodes (the HTML constructs are switched off),
 * the URL transform blanks every protocol but http(s) and mailto, and rehype-sanitize runs a
 * strict allow-list (elements and attributes below) before anything reaches React.
 */
import type { Element, ElementContent, Root as HastRoot, Text } from "hast";
import hljsBash from "highlight.js/lib/languages/bash";
import hljsCss from "highlight.js/lib/languages/css";
import hljsDiff from "highlight.js/lib/languages/diff";
import hljsGo from "highlight.js/lib/languages/go";
import hljsJavascript from "highlight.js/lib/languages/javascript";
import hljsJson from "highlight.js/lib/languages/json";
import hljsPython from "highlight.js/lib/languages/python";
import hljsRust from "highlight.js/lib/languages/rust";
import hljsSql from "highlight.js/lib/languages/sql";
import hljsTypescript from "highlight.js/lib/languages/typescript";
import hljsXml from "highlight.js/lib/languages/xml";
import hljsYaml from "highlight.js/lib/languages/yaml";
import { memo } from "react";
import Markdown, { type Components } from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import rehypeSanitize, { type Options as SanitizeSchema } from "rehype-sanitize";
import remarkBreaks from "remark-breaks";
import remarkGemoji from "remark-gemoji";
import remarkGfm from "remark-gfm";

/** The languages fenced code blocks are highlighted in (others show plain). */
export const HIGHLIGHT_LANGUAGES = {
  bash: hljsBash,
  css: hljsCss,
  diff: hljsDiff,
  go: hljsGo,
  javascript: hljsJavascript,
  json: hljsJson,
  python: hljsPython,
  rust: hljsRust,
  sql: hljsSql,
  typescript: hljsTypescript,
  xml: hljsXml,
  yaml: hljsYaml,
};

/** Every element the renderer may produce; anything else is dropped (its text kept). */
export const ALLOWED_ELEMENTS = ["p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "span"];

const SAFE_PROTOCOLS = ["http", "https", "mailto"];

/** The strict allow-list rehype-sanitize enforces (no ids, no styles, no event handlers). */
export const SANITIZE_SCHEMA: SanitizeSchema = {
  tagNames: ALLOWED_ELEMENTS,
  attributes: {
    a: ["href"],
    code: [["className", /^language-[\w+-]{1,32}$/]],
    ol: [["start", /^\d{1,6}$/]],
  },
  protocols: { href: SAFE_PROTOCOLS },
  strip: ["script", "style"],
  clobber: [],
  clobberPrefix: "",
  allowComments: false,
  allowDoctypes: false,
};

/** Parser constructs switched off: the document-like parts of markdown and all raw HTML. */
const DISABLED_CONSTRUCTS = [
  "headingAtx",
  "setextUnderline",
  "thematicBreak",
  "htmlFlow",
  "htmlText",
  "definition",
  "labelStartImage",
  "codeIndented",
  "table",
  "gfmFootnoteDefinition",
  "gfmFootnoteCall",
  "tasklistCheck",
];

/** A remark plugin that turns the constructs above off in the parser (micromark's `disable`). */
function remarkChatSubset(this: { data: (key?: string) => Record<string, unknown> }) {
  const data = this.data() as { micromarkExtensions?: unknown[] };
  (data.micromarkExtensions ??= []).push({ disable: { null: DISABLED_CONSTRUCTS } });
}

/** Only http(s) and mailto links survive; anything else becomes an empty href (then dropped). */
export function safeUrl(url: string): string {
  const trimmed = url.trim();
  const colon = trimmed.indexOf(":");
  const slash = trimmed.search(/[/?#]/);
  // No scheme (a relative link): not meaningful in a chat; treat it as unsafe.
  if (colon === -1 || (slash !== -1 && slash < colon)) return "";
  const scheme = trimmed.slice(0, colon).toLowerCase();
  return SAFE_PROTOCOLS.includes(scheme) ? trimmed : "";
}

const MENTION = /(^|[^\w@])@([A-Za-z0-9_.-]{1,32}[A-Za-z0-9_])(?![\w@])/g;

/**
 * A rehype plugin (runs after sanitising) that wraps `@name` in text — not inside code or a
 * link — in `<span class="mention">`, plus `me` when it names the reader.
 */
function rehypeMentions(options: { me?: string }) {
  const me = options.me?.toLowerCase();
  const split = (text: string): ElementContent[] | null => {
    MENTION.lastIndex = 0;
    if (!MENTION.test(text)) return null;
    MENTION.lastIndex = 0;
    const out: ElementContent[] = [];
    let at = 0;
    for (let m = MENTION.exec(text); m; m = MENTION.exec(text)) {
      const start = m.index + m[1].length;
      if (start > at) out.push({ type: "text", value: text.slice(at, start) });
      const name = m[2].toLowerCase();
      const mine = name === me || name === "here" || name === "room";
      out.push({
        type: "element",
        tagName: "span",
        properties: { className: mine ? ["mention", "me"] : ["mention"] },
        children: [{ type: "text", value: `@${m[2]}` }],
      });
      at = start + 1 + m[2].length;
    }
    if (at < text.length) out.push({ type: "text", value: text.slice(at) });
    return out;
  };
  const walk = (node: HastRoot | Element) => {
    const next: (typeof node.children)[number][] = [];
    for (const child of node.children) {
      if (child.type === "text") {
        const parts = split((child as Text).value);
        if (parts) next.push(...parts);
        else next.push(child);
      } else {
        if (child.type === "element" && !["code", "pre", "a"].includes(child.tagName)) walk(child);
        next.push(child);
      }
    }
    node.children = next as typeof node.children;
  };
  return (tree: HastRoot) => walk(tree);
}

const components: Components = {
  a: ({ href, children }) =>
    href ? (
      <a href={href} target="_blank" rel="noopener noreferrer">
        {children}
      </a>
    ) : (
      <span>{children}</span>
    ),
};

/** Container nesting deeper than this (quotes, or list indentation) isn't formatted. */
const MAX_NESTING = 16;
const DEEP_QUOTES = new RegExp(`^(?:[ \\t]*>){${MAX_NESTING + 1}}`, "m");
const DEEP_INDENT = new RegExp(`^[ \\t]{${MAX_NESTING * 3},}(?:[-*+]|\\d{1,9}[.)])[ \\t]`, "m");

/**
 * Whether a body nests so deep that parsing it would cost more than it shows (a 2000-level quote
 * takes the parser a second): such a body is shown as plain text.
 */
export function tooDeep(body: string): boolean {
  return DEEP_QUOTES.test(body) || DEEP_INDENT.test(body);
}

type Props = { body: string; me?: string };

/** One message body, formatted. Pure: the same body gives the same elements. */
export const FormattedBody = memo(function FormattedBody({ body, me }: Props) {
  if (tooDeep(body)) return <p className="plain-body">{body}</p>;
  return (
    <Markdown
      remarkPlugins={[remarkChatSubset, remarkGfm, remarkBreaks, remarkGemoji]}
      rehypePlugins={[
        [rehypeSanitize, SANITIZE_SCHEMA],
        [rehypeHighlight, { languages: HIGHLIGHT_LANGUAGES, detect: false, plainText: ["text", "txt", "plain"] }],
        [rehypeMentions, { me }],
      ]}
      urlTransform={safeUrl}
      components={components}
    >
      {body}
    </Markdown>
  );
});

export default FormattedBody;
