import './index.css';
import './vms.css';
