// Swagger UI for /docs, from a file (not an inline script) so the page's CSP needs no 'unsafe-inline'.
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null, // its default is a public validator: no request leaves for it
  tryItOutEnabled: false,
});
