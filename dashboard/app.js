document.getElementById("view").textContent = "spawnd";
