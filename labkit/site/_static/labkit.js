// The course site's one script: a figure (a stored notebook output, shrunk to the text's width)
// opens at full size when clicked.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".cell_output img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.title = "Open the figure at full size";
    link.className = "labkit-figure-link";
    img.replaceWith(link);
    link.appendChild(img);
  });
});
