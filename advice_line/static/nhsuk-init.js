// Starts NHS.UK frontend's components (the header's menu, the error summary's focus, the
// notification banner...). Its script is an ES module under a content-hashed name, which
// the page gives in data-nhsuk-frontend: imported from there (script-src 'self').
const script = document.querySelector("script[data-nhsuk-frontend]");
document.body.classList.add("js-enabled", "nhsuk-frontend-supported");
import(script.dataset.nhsukFrontend).then(({ initAll }) => initAll());
