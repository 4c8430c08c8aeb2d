//! The OpenAPI document, generated from the handlers' annotations and the protocol types, at
//! `/api/openapi.json`; and `/docs`, a page that renders it on the server — plain HTML, no
//! scripts, no inline style (its stylesheet is `/docs/style.css`), nothing fetched from elsewhere,
//! so it works offline and under the strict CSP every answer carries.

use std::fmt::Write;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    auth, bots, calls, files, invites, me, members, messages, moderation, ops, people, rooms,
    search, threads, unread, webhooks,
};
use crate::protocol;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Palaver",
        version = "1",
        description = "The REST API of Palaver, a self-hosted real-time chat server. The WebSocket \
            protocol at /ws is described in docs/protocol.md. Errors are \
            `{\"error\": {\"code\", \"message\"}}` with a fitting status."
    ),
    paths(
        auth::register, auth::login, auth::guest, auth::logout, auth::me,
        rooms::list, rooms::create, rooms::show, rooms::update, rooms::remove, rooms::join,
        rooms::leave, rooms::members,
        members::open_dm, members::add_member, members::set_role,
        invites::create, invites::preview, invites::accept,
        messages::history, messages::send, messages::edit, messages::remove,
        messages::move_message, messages::clear, messages::events, messages::typing,
        threads::thread, threads::react, threads::unreact, threads::pin, threads::unpin,
        threads::pins,
        bots::create, bots::list, bots::remove, bots::rotate,
        webhooks::create, webhooks::list, webhooks::remove, webhooks::hook,
        moderation::kick, moderation::ban, moderation::unban, moderation::bans, moderation::mute,
        moderation::unmute, moderation::mutes, moderation::report, moderation::reports,
        moderation::audit,
        search::search_messages,
        ops::healthz, ops::readyz, ops::metrics,
        me::update_profile, me::delete_account, me::change_password, me::sessions,
        me::revoke_session, me::export, me::claim,
        people::directory, people::profile, people::config,
        unread::mark_read, unread::unread, unread::set_notifications, unread::push_key,
        unread::subscribe, unread::unsubscribe,
        files::upload, files::download, files::thumbnail,
        calls::ice_servers,
    ),
    components(schemas(
        protocol::User, protocol::Room, protocol::RoomKind, protocol::Rearrange, protocol::Role, protocol::Member,
        protocol::Message, protocol::Event, protocol::EventKind, protocol::ClientFrame,
        protocol::ServerFrame, protocol::RoomListChange, protocol::PresenceMode, protocol::ErrorBody, protocol::ErrorDetail,
        protocol::Bot, protocol::CreateBotRequest, protocol::BotToken, protocol::AuthResponse,
        protocol::Webhook, protocol::CreatedWebhook, protocol::CreateWebhookRequest, protocol::WebhookPost,
        protocol::CreateRoomRequest, protocol::OpenDmRequest, protocol::CreateInviteRequest,
        protocol::InviteCreated, protocol::InvitePreview, protocol::AddMemberRequest,
        protocol::ChangeRoleRequest,
        protocol::RemovedReason, protocol::Sanction, protocol::Report, protocol::AuditAction,
        protocol::AuditEntry, protocol::TargetRequest, protocol::SanctionRequest,
        protocol::ReportRequest,
        protocol::SearchHit, protocol::SearchResults,
        protocol::UpdateProfileRequest, protocol::UserProfile, protocol::PasswordChange,
        protocol::ClaimRequest, protocol::DeleteAccountRequest, protocol::SessionView,
        protocol::ExportMembership, protocol::ExportReaction, protocol::ExportReadState, protocol::ExportFile, protocol::ExportPushSubscription, protocol::AccountExport, protocol::ServerConfig,
        protocol::PinPolicy, protocol::ThreadSummary, protocol::Reaction,
        protocol::MentionEveryone, protocol::NotificationLevel, protocol::ReadRequest,
        protocol::UnreadEntry, protocol::NotificationsRequest, protocol::PushKey,
        protocol::PushSubscriptionKeys, protocol::PushSubscriptionRequest,
        protocol::PushUnsubscribeRequest, protocol::PushPayload,
        protocol::FileInfo, protocol::IceServer,
    )),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "people", description = "Profiles, the directory, one's own account"),
        (name = "rooms", description = "Rooms and membership"),
        (name = "messages", description = "Messages, the event log, typing"),
        (name = "bots", description = "Bot accounts and their tokens"),
        (name = "webhooks", description = "Incoming webhooks: post into a room with a secret URL"),
        (name = "moderation", description = "Kick, ban, mute, reports, the audit log"),
        (name = "unread", description = "Read markers, unread counts, notification levels, Web Push"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "files", description = "Uploads and downloads of files that messages carry"),
        (name = "calls", description = "Calls: the ICE servers (joining and signalling go over the socket)"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("PALAVER_METRICS_TOKEN, when the server sets one"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
        .route("/docs/style.css", get(style))
}

/// The document: utoipa's, then the constraints and statuses of [`super::openapi_rules`].
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
        super::openapi_rules::apply(&mut doc);
        doc
    })
}

async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        axum::Json(document()),
    )
}

async fn docs() -> Html<String> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(|| render(document())).clone())
}

/// The page's stylesheet, a file of its own: the CSP allows no inline `<style>`.
async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A schema as a short type name: `$ref`s by their name, arrays as `[T]`.
fn type_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    if let Some(items) = schema.get("items") {
        return format!("[{}]", type_name(items));
    }
    match schema.get("type") {
        Some(Value::String(t)) => escape(t),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "object".into(),
    }
}

fn render(doc: &Value) -> String {
    let mut out = String::new();
    let info = &doc["info"];
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Palaver API</title><link rel=\"stylesheet\" href=\"/docs/style.css\"></head><body><main>\
         <h1>{} <small>API v{}</small></h1><p>{}</p>\
         <p><a href=\"/api/openapi.json\">openapi.json</a></p>",
        escape(info["title"].as_str().unwrap_or("Palaver")),
        escape(info["version"].as_str().unwrap_or("1")),
        escape(info["description"].as_str().unwrap_or("")),
    );
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (path, item) in &paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let _ = write!(
                out,
                "<section class=\"op\"><h2><span class=\"m {method}\">{}</span> <code>{}</code></h2>",
                method.to_uppercase(),
                escape(path)
            );
            if op.get("security").is_some() {
                out.push_str("<p class=\"auth\">Needs a session: <code>Authorization: Bearer</code> or the <code>palaver_session</code> cookie.</p>");
            }
            if let Some(params) = op.get("parameters").and_then(Value::as_array) {
                out.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>");
                for p in params {
                    let _ = write!(
                        out,
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(p["name"].as_str().unwrap_or("")),
                        escape(p["in"].as_str().unwrap_or("")),
                        type_name(&p["schema"]),
                        escape(p["description"].as_str().unwrap_or("")),
                    );
                }
                out.push_str("</table>");
            }
            if let Some(body) = op.pointer("/requestBody/content/application~1json/schema") {
                let _ = write!(out, "<p>Body: {}</p>", type_name(body));
            }
            if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                out.push_str("<table><tr><th>status</th><th>answer</th><th>body</th></tr>");
                for (status, response) in responses {
                    let body = response
                        .get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.values().next())
                        .and_then(|c| c.get("schema"))
                        .map(type_name)
                        .unwrap_or_default();
                    let _ = write!(
                        out,
                        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(status),
                        escape(response["description"].as_str().unwrap_or("")),
                        body
                    );
                }
                out.push_str("</table>");
            }
            out.push_str("</section>");
        }
    }
    out.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in schemas {
            let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = write!(
                out,
                "<section class=\"schema\" id=\"schema-{0}\"><h3>{0}</h3><pre>{1}</pre></section>",
                escape(name),
                escape(&pretty)
            );
        }
    }
    out.push_str("</main></body></html>");
    out
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f7f7f8;color:#1d1d22}\
main{max-width:60rem;margin:0 auto;padding:2rem 1rem}h1 small{color:#777;font-weight:400}\
.op{background:#fff;border:1px solid #e2e2e6;border-radius:10px;padding:.6rem 1rem;margin:1rem 0}\
.op h2{font-size:1rem;margin:.3rem 0}.m{display:inline-block;min-width:4.2rem;text-align:center;\
border-radius:6px;padding:0 .4rem;color:#fff;font-size:.8rem}.get{background:#2f7d4f}.post{background:#2d5fb4}\
.patch{background:#9a6b12}.delete{background:#b33a3a}.put{background:#6b4bb4}table{border-collapse:collapse;\
width:100%;margin:.4rem 0}td,th{text-align:left;border-top:1px solid #eee;padding:.2rem .4rem;vertical-align:top}\
th{color:#666;font-weight:500}.auth{color:#555;font-size:.9rem}pre{background:#fff;border:1px solid #e2e2e6;\
border-radius:8px;padding:.6rem;overflow:auto;font-size:.8rem}\
@media (prefers-color-scheme: dark){body{background:#16161a;color:#e6e6ea}.op,pre{background:#1f1f25;\
border-color:#33333b}td,th{border-color:#2a2a31}}";
