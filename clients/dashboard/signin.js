// The dashboard's sign-in page: keeps the admin token as the hub's auth cookie (never in an
// address), then opens the dashboard. The hub sends a browser here, with ?reason=<code>, when
// /dashboard is asked for without an admin token.
"use strict";

(function () {
  const reasons = {
    token_missing: "The dashboard needs a token with operator access (herald.admin).",
    forbidden: "That token has no operator access (herald.admin). Use an admin token.",
    token_expired: "The token expired. Sign in with a fresh one.",
    signed_out: "Signed out.",
  };
  const reason = new URLSearchParams(location.search).get("reason");
  if (reason) {
    document.getElementById("reason").textContent =
      reasons[reason] || "The hub refused the token (" + reason + "). Sign in with another one.";
  }
  const form = document.getElementById("signin");
  const cookie = form.dataset.cookie;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const token = document.getElementById("token").value.trim();
    if (!token || /[\s;,"]/.test(token)) return;
    let attributes = "; Path=/; SameSite=Strict";
    try { // a JWT's exp bounds the cookie's life; an unreadable payload gives a session cookie
      const b64 = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const exp = JSON.parse(atob(b64)).exp;
      const left = Math.floor(exp - Date.now() / 1000);
      if (Number.isFinite(left) && left > 0) attributes += "; Max-Age=" + left;
    } catch (_) { /* not a readable JWT: the hub will say */ }
    if (location.protocol === "https:") attributes += "; Secure";
    document.cookie = cookie + "=" + token + attributes;
    location.replace("/dashboard");
  });
})();
