window.__APP_CONFIG__ = {
  firebase: {
    apiKey: "AIzaluH9OKWQqbgsLAXusDnyTtZdOgBzsE8XWjl",
    authDomain: "acme-prod.firebaseapp.com",
    projectId: "acme-prod",
    storageBucket: "acme-prod.appspot.com",
    messagingSenderId: "926477837427",
    appId: "1:568066261991:web:8aa78b7479fe560cac464c",
  },
  googleClientId: "581823125092-vfcaka32avinllcxswfb7ggtxehn0twa.apps.googleusercontent.com",
  assistant: { baseURL: "https://api.scaleway.ai/4c9b8074-64db-4ad3-96d3-a4599eeac3e9/v1", model: "mistral-small-3.1-24b-instruct-2503" },
  mapboxToken: "pk.eyJ1IjoiYWNtZSIsImEiOiJuZs6iH1Boxk7IlhBQMVC.39wuehVCHHPkKFAlS2QneC",
  sessionReplayId: "5a3a59b9-e1e5-43cc-9255-ae07c34b9ea6",
};
