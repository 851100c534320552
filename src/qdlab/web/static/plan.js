// Plan form: the twin plans while the page loads (a few seconds on 2 cores): say so and keep the button from a second submit.
(function () {
  const form = document.getElementById("plan-form");
  if (!form) return;
  form.addEventListener("submit", function () {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const note = document.getElementById("plan-working");
    note.hidden = false;
    note.textContent = "Planning on the digital twin: about 60 twin runs, usually a few seconds…";
  });
})();
