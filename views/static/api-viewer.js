// Starts swagger-ui on the API viewer page (/api-docs). A file of its own, not an
// inline script: the pages' CSP allows scripts only from this server's files.
window.addEventListener('DOMContentLoaded', function () {
  var root = document.getElementById('swagger-ui');
  window.SwaggerUIBundle({
    url: root.getAttribute('data-url'),
    domNode: root,
    deepLinking: true,
    // The description is public; trying an operation sends the key typed into "Authorize".
    tryItOutEnabled: false,
    validatorUrl: null,
  });
});
