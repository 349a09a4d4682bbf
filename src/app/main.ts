import { mount } from 'svelte';
import App from './App.svelte';

const target = document.getElementById('app')!;
target.replaceChildren(); // the loading message of index.html
const app = mount(App, { target });
export default app;
