// The example's buttons drive the widget through its JS API (window.BedrockChat).
document.getElementById("ask").addEventListener("click", () => {
  window.BedrockChat?.send("What can you do?");
});
document.getElementById("toggle").addEventListener("click", () => {
  window.BedrockChat?.toggle();
});
