// Admin pages, optional script: choosing a message template fills the message and status at once.
// Without script the "Use template" button reloads the page with ?template=…, which fills them too.
(function () {
  "use strict";
  var picker = document.getElementById("template-choice");
  if (!picker) return;
  var message = document.getElementById(picker.getAttribute("data-message-field"));
  var status = document.getElementById(picker.getAttribute("data-status-field"));
  if (!message) return;
  var filled = message.value;
  picker.addEventListener("change", function () {
    var option = picker.options[picker.selectedIndex];
    var text = option.getAttribute("data-message");
    if (text === null) return;
    // Never overwrite what the operator typed: only an empty message or one a template filled.
    if (message.value.trim() !== "" && message.value !== filled) return;
    message.value = text;
    filled = text;
    var wanted = option.getAttribute("data-status");
    if (status && wanted) status.value = wanted;
  });
})();
